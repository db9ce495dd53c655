"""redisops: deploy, operate, observe, secure and connect highly available Redis."""

from redisops.address import Address
from redisops.errors import RedisopsError

__all__ = ["Address", "RedisopsError", "__version__"]
__version__ = "0.1.0"
