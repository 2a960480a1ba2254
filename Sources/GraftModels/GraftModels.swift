// GraftModels
