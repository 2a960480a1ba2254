// GraftWeights
