"""Development and test tools, never in a service image.

No Dockerfile copies this package and ``.dockerignore`` keeps it out of the build context
(``tests/deploy`` checks both): a local Redis Stack server for tests, benchmarks and
``arxivqa up`` (``redis_server``), tiny randomly initialised reader models for tests and
benchmarks (``random_models``), and the citation-graph file readers (``graph_readers``).
Service code must not import it.
"""
