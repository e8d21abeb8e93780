// Pipeline configs are part of the host's API (loading, applying, the REST types).
@_exported import GoferConfig
