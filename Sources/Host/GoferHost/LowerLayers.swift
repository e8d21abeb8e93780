// The server's layers are part of what `import GoferHost` gives the CLI, gofer-bench and the tests:
// the HTTP edge, and through it the core, the store, the model, the API's types and pipeline configs.
@_exported import GoferHTTP
