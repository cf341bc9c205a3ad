"""The pure modules load no client library (fast CLI start, testable without services)."""

from __future__ import annotations

import subprocess
import sys


def test_pure_modules_import_no_client_library() -> None:
    code = (
        "import sys\n"
        "import reconciler.providers.redis.state, reconciler.providers.redis.layout\n"
        "import reconciler.providers.redis.placement, reconciler.providers.redis.health\n"
        "import reconciler.providers.redis.clitext, reconciler.providers.redis.transports\n"
        "import reconciler.providers.redis.steps, reconciler.providers.redis.repairing\n"
        "import reconciler.providers.redis.waiting\n"
        "bad = [m for m in ('redis', 'kubernetes_asyncio', 'aiohttp') if m in sys.modules]\n"
        "assert not bad, bad\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_direct_provider_does_not_load_kubernetes() -> None:
    code = (
        "import sys\n"
        "from reconciler.providers.redis.provider import RedisClusterProvider\n"
        "from reconciler.spec.models import RedisSpec\n"
        "spec = RedisSpec.model_validate({'connection': {'addresses': ['127.0.0.1:1']}})\n"
        "RedisClusterProvider.from_spec(spec)\n"
        "assert 'kubernetes_asyncio' not in sys.modules\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
