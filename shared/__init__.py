"""omnisync core: domain rules, use cases and storage adapters, importable without the Functions host."""

__version__ = "0.1.0"
