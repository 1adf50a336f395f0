"""The web layer: routers, dependencies, middleware and templating."""
