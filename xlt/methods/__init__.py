"""Transfer methods. Importing this package registers every shipped method."""

from . import zero_shot  # noqa: F401
from .registry import METHODS, MethodContext, MethodSpec, get_method, register_method

__all__ = ["METHODS", "MethodContext", "MethodSpec", "get_method", "register_method"]
