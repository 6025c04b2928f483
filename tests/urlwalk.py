"""Walk the URLconf: the security matrices (IDOR, CSRF, staff-only) cover every pattern,
including the ones added later, without anyone remembering to list them."""

from dataclasses import dataclass

from django.urls import URLPattern, URLResolver, get_resolver


@dataclass(frozen=True)
class Route:
    name: str  # "namespace:name"
    pattern: str
    converters: dict  # kwarg -> converter class name

    @property
    def kwargs(self) -> list[str]:
        return list(self.converters)


def _walk(resolver: URLResolver, prefix: str, namespace: str, converters: dict):
    for entry in resolver.url_patterns:
        if isinstance(entry, URLResolver):
            ns = namespace
            if entry.namespace:
                ns = f"{namespace}:{entry.namespace}" if namespace else entry.namespace
            yield from _walk(entry, prefix + str(entry.pattern), ns, {**converters, **entry.pattern.converters})
        elif isinstance(entry, URLPattern) and entry.name:
            name = f"{namespace}:{entry.name}" if namespace else entry.name
            convs = {**converters, **getattr(entry.pattern, "converters", {})}
            yield Route(name, prefix + str(entry.pattern), {k: type(v).__name__ for k, v in convs.items()})


def routes(namespace: str | None = None) -> list[Route]:
    seen: dict[str, Route] = {}
    for route in _walk(get_resolver(), "", "", {}):
        if namespace is None or route.name.split(":")[0] == namespace:
            # The first definition wins, as in Django's resolver.
            seen.setdefault(route.name + "|" + route.pattern, route)
    return list(seen.values())
