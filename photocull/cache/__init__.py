"""The per-file cache: identity (who a file is), the SQLite store, and the records codec.

Only this package touches the database; :mod:`.codec` is the only (de)serialisation of
stage records (the cache, the JSON report and ``last_run.json`` use it).
"""

from .identity import CACHE_DIRNAME, CACHE_FILENAME, FileIdent, content_hash, default_user_cache_dir, shoot_cache_path
from .store import SCHEMA_VERSION, Cache, scores_key

__all__ = [
    "CACHE_DIRNAME", "CACHE_FILENAME", "Cache", "FileIdent", "SCHEMA_VERSION", "content_hash",
    "default_user_cache_dir", "scores_key", "shoot_cache_path",
]
