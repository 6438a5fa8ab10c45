"""The built-in plugins: registered through the same hooks a third-party plugin uses."""

DEFAULT_PLUGINS = (
    "progan.builtin.architectures",
    "progan.builtin.losses",
    "progan.builtin.datasets",
    "progan.builtin.metrics",
)
