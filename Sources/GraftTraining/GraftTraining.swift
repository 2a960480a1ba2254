// GraftTraining
