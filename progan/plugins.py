"""Plugin discovery and the name registries.

Built-ins are plugins (``progan.builtin.DEFAULT_PLUGINS``) registered through the same hooks a
third-party package uses.  External plugins come from the ``progan`` entry-point group, from
the ``PROGAN_PLUGINS`` environment variable (comma-separated module names) and from
``--plugin MODULE``.  ``PROGAN_DISABLE_PLUGINS=1`` loads the built-ins only.
"""
from __future__ import annotations

import contextlib
import difflib
import importlib
import importlib.metadata
import inspect
import os
import warnings
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable, Iterator, Mapping

import pluggy

from progan import hookspecs
from progan.errors import PluginError

ENTRY_POINT_GROUP = "progan"
KINDS = ("architectures", "losses", "datasets", "metrics", "callbacks")
BUILTIN = "progan"


def singular(kind: str) -> str:
    """'losses' -> 'loss', 'architectures' -> 'architecture' (for messages)."""
    return kind[:-2] if kind.endswith("sses") else kind[:-1]


HOOKS = {name: getattr(hookspecs, name) for name in dir(hookspecs) if name.startswith("progan_")}
LIFECYCLE_HOOKS = frozenset(name for name in HOOKS if not name.startswith("progan_register_"))


@dataclass(frozen=True)
class Registration:
    """One registered name: what makes it and where it came from."""

    name: str
    factory: Callable[..., Any]
    plugin: str
    package: str


@dataclass
class PluginInfo:
    """What ``progan plugins`` lists for one plugin."""

    name: str
    package: str
    version: str
    names: dict[str, list[str]] = field(default_factory=dict)
    hooks: list[str] = field(default_factory=list)  # the lifecycle hooks it implements (always active)
    error: str | None = None


class PluginHost:
    """A pluggy manager plus one registry per kind; built once per process by ``host()``."""

    def __init__(self, *, entry_points: bool = True, modules: Iterable[str] = ()) -> None:
        self.manager = pluggy.PluginManager("progan")
        self.manager.add_hookspecs(hookspecs)
        self.registries: dict[str, dict[str, Registration]] = {kind: {} for kind in KINDS}
        self.info: dict[str, PluginInfo] = {}
        from progan.builtin import DEFAULT_PLUGINS

        version = _version("progan")
        for module_name in DEFAULT_PLUGINS:
            self._add(importlib.import_module(module_name), module_name, BUILTIN, version)
        if entry_points:
            self._load_entry_points()
        for module_name in modules:
            self.load_module(module_name)

    # -- loading -------------------------------------------------------------------------
    def load_module(self, module_name: str) -> None:
        """Import a local plugin module (``--plugin`` / ``PROGAN_PLUGINS``) and register it."""
        if module_name in self.info:
            return
        try:
            module = importlib.import_module(module_name)
        except Exception as exc:  # a broken plugin must not take the others down
            raise PluginError(
                f"plugin module {module_name!r} failed to import: {type(exc).__name__}: {exc}; "
                f"make it importable (PYTHONPATH) or drop it from --plugin / PROGAN_PLUGINS / the config's `plugins`"
            ) from exc
        if self.manager.is_registered(module):  # already loaded, e.g. through its entry point
            return
        check_hookimpls(module, f"plugin module {module_name!r}")
        self._add(module, module_name, module_name, "local")

    def _load_entry_points(self) -> None:
        for entry_point in importlib.metadata.entry_points(group=ENTRY_POINT_GROUP):
            dist = entry_point.dist
            package = dist.metadata["Name"] if dist is not None else entry_point.value
            version = dist.version if dist is not None else "?"
            if entry_point.name in self.info:
                continue
            try:
                module = entry_point.load()
                check_hookimpls(module, f"plugin {entry_point.name!r}")
            except Exception as exc:
                message = f"{type(exc).__name__}: {exc}"
                self.info[entry_point.name] = PluginInfo(entry_point.name, package, version, error=message)
                warnings.warn(
                    f"progan plugin {entry_point.name!r} (package {package}) failed to load and was "
                    f"skipped: {message}; `pip uninstall {package}` to silence this",
                    stacklevel=2,
                )
                continue
            self._add(module, entry_point.name, package, version)

    def _add(self, module: Any, plugin_name: str, package: str, version: str) -> None:
        self.manager.register(module, name=plugin_name)
        info = PluginInfo(plugin_name, package, version)
        info.hooks = sorted(caller.name for caller in self.manager.get_hookcallers(module) or () if caller.name in LIFECYCLE_HOOKS)
        self.info[plugin_name] = info
        for kind in KINDS:
            hook = getattr(self.manager.hook, f"progan_register_{kind}")
            for impl in hook.get_hookimpls():
                if impl.plugin is not module:
                    continue
                try:
                    impl.function(register=self._registrar(kind, plugin_name, package, info))
                except PluginError:
                    raise
                except Exception as exc:
                    info.error = f"{type(exc).__name__} in progan_register_{kind}: {exc}"
                    warnings.warn(
                        f"progan plugin {plugin_name!r} (package {package}) raised while registering "
                        f"{kind}: {info.error}; its other names still load",
                        stacklevel=2,
                    )

    def _registrar(self, kind: str, plugin_name: str, package: str, info: PluginInfo):
        def register(name: str, factory: Callable[..., Any]) -> None:
            if not isinstance(name, str) or not name or not name.replace("-", "").replace("_", "").isalnum():
                raise PluginError(f"plugin {plugin_name!r} registered an invalid {singular(kind)} name {name!r}")
            if not callable(factory):
                raise PluginError(f"plugin {plugin_name!r} registered {singular(kind)} {name!r} with a non-callable factory")
            existing = self.registries[kind].get(name)
            if existing is not None:
                raise PluginError(
                    f"{singular(kind)} name {name!r} is registered twice: by plugin {existing.plugin!r} "
                    f"(package {existing.package}) and by plugin {plugin_name!r} (package {package}); "
                    f"uninstall one of them"
                )
            self.registries[kind][name] = Registration(name, factory, plugin_name, package)
            info.names.setdefault(kind, []).append(name)

        return register

    # -- lookup --------------------------------------------------------------------------
    def get(self, kind: str, name: str) -> Registration:
        """The registration of ``name``, or a PluginError listing what exists and the closest match."""
        registry = self.registries[kind]
        if name in registry:
            return registry[name]
        available = sorted(registry)
        close = difflib.get_close_matches(name, available, n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        raise PluginError(
            f"unknown {singular(kind)} {name!r}{hint}; available: {', '.join(available) or 'none'}"
            f" — install or load the plugin that provides it (progan plugins lists them)"
        )

    def create(self, kind: str, name: str, *args: Any, **kwargs: Any) -> Any:
        return self.get(kind, name).factory(*args, **kwargs)

    def require(self, kind: str, name: str, package: str, *, source: str = "") -> None:
        """PluginError naming ``package`` unless ``name`` (recorded in a checkpoint) is registered."""
        if name not in self.registries[kind]:
            where = f"{source}: " if source else ""
            local = f", or `--plugin {package}` if it is a local plugin module" if package.replace(".", "_").isidentifier() else ""
            raise PluginError(
                f"{where}made with {singular(kind)} {name!r} from package {package!r}, which is not installed; `pip install {package}`{local}"
            )

    def create_callback(self, name: str, options: Mapping[str, Any]) -> Any:
        """The callback object registered as ``name``, made from ``options`` and checked to implement lifecycle hooks."""
        callback = self.create("callbacks", name, dict(options))
        what = f"callback {name!r} (package {self.registries['callbacks'][name].package})"
        check_hookimpls(callback, what, allowed=LIFECYCLE_HOOKS)
        if not any(hasattr(callback, hook) for hook in LIFECYCLE_HOOKS):  # check_hookimpls made sure they are marked
            raise PluginError(f"{what} implements no lifecycle hook; give it @hookimpl methods such as progan_tick (docs/plugins.md)")
        return callback

    @contextlib.contextmanager
    def activated(self, callbacks: Iterable[Any]) -> Iterator[None]:
        """Callback objects registered as hook implementations for the duration of the block."""
        added = []
        try:
            for callback in callbacks:
                self.manager.register(callback, name=f"callback-{id(callback)}")
                added.append(callback)
            yield
        finally:
            for callback in added:
                self.manager.unregister(callback)

    @property
    def hook(self) -> Any:
        return self.manager.hook


_HOST: PluginHost | None = None


def host(modules: Iterable[str] = ()) -> PluginHost:
    """The process-wide plugin host, created lazily on first use; later calls may add modules."""
    global _HOST
    if _HOST is None:
        disabled = os.environ.get("PROGAN_DISABLE_PLUGINS", "") not in ("", "0")
        env_modules = [] if disabled else [m.strip() for m in os.environ.get("PROGAN_PLUGINS", "").split(",") if m.strip()]
        _HOST = PluginHost(entry_points=not disabled, modules=[*env_modules, *modules])
    else:
        for module_name in modules:
            _HOST.load_module(module_name)
    return _HOST


def reset_host() -> None:
    """Forget the process-wide host (tests use this to start clean)."""
    global _HOST
    _HOST = None


def check_hookimpls(obj: Any, what: str, *, allowed: Iterable[str] = HOOKS) -> None:
    """PluginError for what pluggy would silently ignore or refuse late: misspelt hooks, missing @hookimpl, unknown arguments."""
    allowed = set(allowed)
    marker = f"{hookspecs.hookimpl.project_name}_impl"
    for attr in dir(obj):
        function = getattr(obj, attr, None) if attr.startswith("progan_") else None
        if not callable(function):
            continue
        marked = isinstance(getattr(function, marker, None), dict)
        if marked and attr not in allowed:
            close = difflib.get_close_matches(attr, sorted(allowed), n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            raise PluginError(f"{what} implements {attr!r}, which is not a hook it can implement{hint}; hooks: {', '.join(sorted(allowed))}")
        if attr in allowed and not marked:
            raise PluginError(f"{what}: {attr} lacks the @progan.hookspecs.hookimpl decorator, so it would never be called")
        if marked:
            expected = inspect.signature(HOOKS[attr]).parameters
            unknown = [p for p in inspect.signature(function).parameters if p not in expected]
            if unknown:
                raise PluginError(f"{what}: {attr} takes {', '.join(unknown)}, which the hook does not pass; its arguments: {', '.join(expected)}")


def _version(package: str) -> str:
    try:
        return importlib.metadata.version(package)
    except importlib.metadata.PackageNotFoundError:
        return "unknown"
