// GraftOptim
