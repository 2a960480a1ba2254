// `import Graft` is all a user of the library writes: every public module comes with it. Each
// module stays importable on its own, for a user who wants only the engine or only the catalog.
@_exported import GraftCatalog
@_exported import GraftData
@_exported import GraftEnsemble
@_exported import GraftExport
@_exported import GraftModels
@_exported import GraftNN
@_exported import GraftOptim
@_exported import GraftReport
@_exported import GraftStudy
@_exported import GraftSupport
@_exported import GraftTensor
@_exported import GraftTraining
@_exported import GraftWeights
@_exported import GraftZoo
