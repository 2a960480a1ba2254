// GraftData
