"""Dockerfiles: reading the repo's own, and writing one when the repo has none.

Detection (`detect/`) decides *what* an app is and fills one of the specs below; this package
decides *how* it is built. Generated files follow the same rules everywhere: official `-slim`
bases named by settings (so a private mirror can serve them), dependencies installed before
the source is copied (an unchanged lock file keeps its layer), a non-root user, `ENV PORT` +
`EXPOSE` with the default port, a start command that honours `$PORT`, and a check after each
build step that its output is where the next step will look for it.

`reading` parses Dockerfiles; `common` holds what every generated file shares; `python`,
`node` and `static` write one kind each.
"""

from .common import (
    APP_UID,
    APP_USER,
    GENERATED_DOCKERFILE,
    NGINX_PORT,
    NODE_PORT,
    PYTHON_PORT,
    default_dockerignore,
    nginx_image,
    node_image,
    python_image,
)
from .node import NodeApp, node_dockerfile, run_script
from .python import PythonApp, python_dockerfile
from .reading import (
    DockerfileInfo,
    Instruction,
    analyze_dockerfile,
    parse_dockerfile,
    substitute,
    without_cache_mounts,
)
from .static import StaticSite, static_dockerfile

__all__ = [
    "APP_UID",
    "APP_USER",
    "GENERATED_DOCKERFILE",
    "NGINX_PORT",
    "NODE_PORT",
    "PYTHON_PORT",
    "DockerfileInfo",
    "Instruction",
    "NodeApp",
    "PythonApp",
    "StaticSite",
    "analyze_dockerfile",
    "default_dockerignore",
    "nginx_image",
    "node_dockerfile",
    "node_image",
    "parse_dockerfile",
    "python_dockerfile",
    "python_image",
    "run_script",
    "static_dockerfile",
    "substitute",
    "without_cache_mounts",
]
