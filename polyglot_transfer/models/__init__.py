"""Models by hub id: a catalog, provisioning (hub or PyPI wheels), conversion, and tiny test models."""

from polyglot_transfer.models.catalog import CATALOG, ModelSpec, get_model_spec
from polyglot_transfer.models.provision import models_dir, pull_model, resolve_model

__all__ = ["CATALOG", "ModelSpec", "get_model_spec", "models_dir", "pull_model", "resolve_model"]
