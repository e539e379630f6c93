"""Transfer methods: the contract (`base`), the registry and one module per method."""

from .base import MethodContext, NoOptions, TransferMethod
from .registry import METHODS, get_method, load_plugins, method_names, register_method

__all__ = ["METHODS", "MethodContext", "NoOptions", "TransferMethod", "get_method", "load_plugins", "method_names",
           "register_method"]
