"""Live arXiv: harvest metadata (OAI-PMH, the API's Atom feeds) and read PDFs.

No gRPC here: :mod:`gateway.arxiv.harvest` hands batches to a sink (the CLI's sink
streams them to the gateway's ``Ingest``), so the protocol code is tested on its own
against a local HTTP server serving recorded arXiv responses.
"""
