"""The tool adapter: bulkhead -> circuit breaker -> full-jitter retry -> per-attempt timeout (issue 15)."""

from aiaas.tools.adapter import DEFAULT_BREAKER, ToolAdapter, ToolResult
from aiaas.tools.errors import ErrorClass, ToolCallError
from aiaas.tools.manifest import ToolLimits, ToolManifest

__all__ = ["DEFAULT_BREAKER", "ErrorClass", "ToolAdapter", "ToolCallError", "ToolLimits", "ToolManifest", "ToolResult"]
