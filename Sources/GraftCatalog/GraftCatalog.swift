// GraftCatalog
