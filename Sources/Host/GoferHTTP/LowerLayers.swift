// Pipeline configs and the domain model are part of the host's API (loading, applying, the REST types).
@_exported import GoferConfig
@_exported import GoferModel
@_exported import GoferAPIModels
@_exported import GoferStore
@_exported import GoferCore
