// GraftReport
