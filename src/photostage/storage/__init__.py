"""Storage: ``storage://<name>/<path>`` URIs and path safety (``uri``), result naming (``naming``),
the connector protocol (``base``) and its kinds (``local``, ``cloud`` for S3/GCS, ``web`` for web
folders), account-owned storages with encrypted credentials (``models``, ``crypto``, ``service``),
and signed temporary results (``tmp``). Every connector passes one conformance suite
(tests/storage/test_storage_conformance.py)."""
