"""The pipeline stages between a parsed document and the store: series mapping, validation,
import. Each stage is a function usable alone; :mod:`.ingest` composes them."""
