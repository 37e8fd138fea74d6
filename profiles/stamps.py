"""Where each trait value came from: ``Profile.trait_sources``.

``trait_sources`` mirrors ``traits`` with a ``[changed_at_iso, source]`` stamp per value, except
that the stamp most values share is stored once, under the key ``""`` (no group can be named with
the empty string): a value without a stamp of its own has that one. A profile written by one
import or one identify call is then ``{"": [at, source]}`` instead of a stamp per value, which is
two thirds less JSON for PostgreSQL to parse and store per profile (docs/PERFORMANCE.md).
"""

SHARED = ""


def trait_stamp(sources: dict, group: str, name: str) -> list | None:
    """The ``[changed_at_iso, source]`` of one value that exists (None when unknown). The shared
    stamp answers for any name, so ask only for values the profile has."""
    own = sources.get(group)
    if own is not None and name in own:
        return own[name]
    return sources.get(SHARED)


def trait_stamp_set(sources: dict, group: str, name: str, stamp: list) -> None:
    if sources.get(SHARED) == stamp:
        own = sources.get(group)
        if own is not None:
            own.pop(name, None)
    else:
        sources.setdefault(group, {})[name] = stamp


def trait_stamps_share(traits: dict, sources: dict, stamp: list, stamped: int) -> None:
    """After `stamped` values were given `stamp`: make it the shared stamp when it is the most
    common one, re-stamping the other values with their own (in place)."""
    total = sum(len(values) for values in traits.values())
    if total == 0:
        sources.clear()
    elif stamped == total:
        sources.clear()
        sources[SHARED] = stamp
    elif stamped * 2 > total and sources.get(SHARED) != stamp:
        kept = {}
        for group, values in traits.items():
            for name in values:
                own = trait_stamp(sources, group, name)
                if own != stamp:
                    kept.setdefault(group, {})[name] = own
        sources.clear()
        sources[SHARED] = stamp
        sources.update(kept)
