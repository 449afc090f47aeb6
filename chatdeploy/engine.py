"""The deploy engine: stages made of resources, converged, planned or removed.

A *resource* is one thing in AWS (a table, a route, the set of frontend files) with the same
small interface everywhere:

    find(ctx)            read-only: what exists now (by recorded id, else by name or tag), or None
    create(ctx)          make it, recording its ids in the state the moment they exist
    changes(ctx, found)  read-only: the updates needed, each a Change(summary, apply)
    delete(ctx, found)   remove it (NotFound counts as done)

`up` converges each resource: find -> create if missing -> changes -> apply. `plan` runs only
the read-only half. `destroy` runs find -> delete in reverse order. A *stage* is one guide step: a
list of resources plus the stages it needs. Resources run concurrently as soon as what they
need has converged, in a small thread pool.
"""

from __future__ import annotations

import enum
import threading
import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar

from chatdeploy.aws import explain
from chatdeploy.errors import ChatdeployError

if TYPE_CHECKING:
    from chatdeploy.context import DeployContext

MAX_PARALLEL = 12


class Unknown(Exception):
    """A value that only exists once another resource has been created (seen while planning)."""

    def __init__(self, key: str) -> None:
        super().__init__(key)
        self.key = key


@dataclass
class Found:
    """What exists in AWS: the ids to keep in the state, and the raw description for `changes`."""

    record: dict[str, Any]
    data: Any = None
    # False when it lacks the stack tag: made by hand (say, by following the guide). `up` adopts
    # and tags it; `destroy` without a state record leaves it alone.
    owned: bool = True


@dataclass
class Change:
    summary: str
    apply: Callable[[], None]


class Resource(ABC):
    key: str
    label: str
    after: tuple[str, ...] = ()

    @abstractmethod
    def find(self, ctx: DeployContext) -> Found | None: ...

    @abstractmethod
    def create(self, ctx: DeployContext) -> None: ...

    def changes(self, ctx: DeployContext, found: Found) -> list[Change]:
        return []

    @abstractmethod
    def delete(self, ctx: DeployContext, found: Found) -> None: ...

    def keep_on_destroy(self, ctx: DeployContext) -> bool:
        return False


class Stage(ABC):
    name: ClassVar[str]
    title: ClassVar[str]
    needs: ClassVar[tuple[str, ...]] = ()

    @abstractmethod
    def resources(self, ctx: DeployContext) -> list[Resource]: ...

    def outputs(self, ctx: DeployContext) -> dict[str, Any]:
        return {}

    def warnings(self, ctx: DeployContext) -> list[str]:
        """What the user should know before this stage is deployed as configured."""
        return []

    def orphan(self, ctx: DeployContext, key: str) -> Resource | None:
        """A resource to delete for a recorded key this stage no longer wants (e.g. a removed
        handler's function). None: leave the record alone."""
        return None


class Action(enum.StrEnum):
    CREATE = "create"
    UPDATE = "update"
    DELETE = "delete"
    UNCHANGED = "unchanged"
    CREATED = "created"
    UPDATED = "updated"
    ADOPTED = "adopted"
    DELETED = "deleted"
    ABSENT = "absent"
    KEPT = "kept"
    FAILED = "failed"
    SKIPPED = "skipped"


@dataclass
class Outcome:
    stage: str
    key: str
    label: str
    action: Action
    details: list[str] = field(default_factory=list)
    error: ChatdeployError | None = None
    seconds: float = 0.0


@dataclass
class Report:
    outcomes: list[Outcome]
    seconds: float

    @property
    def failures(self) -> list[Outcome]:
        return [o for o in self.outcomes if o.action is Action.FAILED]

    @property
    def ok(self) -> bool:
        return not self.failures

    def count(self, *actions: Action) -> int:
        return sum(1 for o in self.outcomes if o.action in actions)


@dataclass
class _Node:
    stage: Stage
    resource: Resource
    needs: set[str]


class Engine:
    def __init__(self, ctx: DeployContext, stages: Iterable[Stage]) -> None:
        self.ctx = ctx
        self.stages = _in_dependency_order(list(stages))
        self._nodes = self._build_nodes()

    def plan(self) -> Report:
        return self._run(self._plan_one, reverse=False, stop_on_failure=False)

    def up(self) -> Report:
        report = self._run(self._converge_one, reverse=False, stop_on_failure=True)
        if report.ok:
            report.outcomes.extend(self._prune_orphans())
            self.ctx.state.set_outputs(self.outputs())
        return report

    def destroy(self) -> Report:
        orphans = [_Node(stage, res, set(res.after)) for stage, res in self._orphans()]
        report = self._run(self._remove_one, reverse=True, stop_on_failure=False, extra=orphans)
        if report.ok:
            self.ctx.state.set_outputs({})
        return report

    def outputs(self) -> dict[str, Any]:
        merged: dict[str, Any] = {}
        for stage in self.stages:
            merged.update(stage.outputs(self.ctx))
        return merged

    def dependencies(self) -> dict[str, set[str]]:
        """Each resource key and the keys it waits for."""
        return {key: set(node.needs) for key, node in self._nodes.items()}

    def orphans(self) -> list[str]:
        """What `up` would delete because the config or handlers/ no longer has it."""
        return [resource.label for _, resource in self._orphans()]

    def warnings(self) -> list[str]:
        return [warning for stage in self.stages for warning in stage.warnings(self.ctx)]

    def resource_keys(self) -> list[str]:
        return list(self._nodes)

    # -- the three per-resource operations -------------------------------------------------

    def _plan_one(self, node: _Node) -> Outcome:
        resource = node.resource
        try:
            found = resource.find(self.ctx)
        except Unknown as unknown:
            return self._outcome(node, Action.CREATE, [f"after {unknown.key}"])
        if found is None:
            return self._outcome(node, Action.CREATE)
        recorded = self.ctx.state.get(resource.key) is not None
        try:
            changes = resource.changes(self.ctx, found)
        except Unknown as unknown:
            return self._outcome(node, Action.UPDATE, [f"once {unknown.key} exists"])
        details = [] if recorded else ["adopt existing (not in the state file)"]
        details += [change.summary for change in changes]
        return self._outcome(node, Action.UPDATE if changes else Action.UNCHANGED, details)

    def _converge_one(self, node: _Node) -> Outcome:
        resource, ctx = node.resource, self.ctx
        found = resource.find(ctx)
        if found is None:
            ctx.reporter.update(resource.key, "creating")
            resource.create(ctx)
            found = resource.find(ctx)
            if found is None:
                raise ChatdeployError(f"{resource.label} was created but cannot be found")
            action = Action.CREATED
        elif ctx.state.get(resource.key):
            action = Action.UNCHANGED
        else:
            action = Action.ADOPTED
            if not found.owned:
                ctx.warn(f"adopting {resource.label}, which chatdeploy did not create")
        ctx.record(resource.key, **found.record)
        details = []
        for change in resource.changes(ctx, found):
            ctx.reporter.update(resource.key, "updating", change.summary)
            change.apply()
            details.append(change.summary)
        if details and action is Action.UNCHANGED:
            action = Action.UPDATED
        return self._outcome(node, action, details)

    def _remove_one(self, node: _Node) -> Outcome:
        resource, ctx = node.resource, self.ctx
        try:
            found = resource.find(ctx)
        except Unknown:
            found = None  # what it belongs to is gone, and took it along
        if found is None:
            ctx.state.forget(resource.key)
            return self._outcome(node, Action.ABSENT)
        if resource.keep_on_destroy(ctx):
            ctx.state.forget(resource.key)
            return self._outcome(node, Action.KEPT)
        if not found.owned and ctx.state.get(resource.key) is None:
            return self._outcome(node, Action.KEPT, ["not made by chatdeploy: no stack tag"])
        ctx.reporter.update(resource.key, "deleting")
        resource.delete(ctx, found)
        ctx.state.forget(resource.key)
        return self._outcome(node, Action.DELETED)

    def _prune_orphans(self) -> list[Outcome]:
        outcomes = []
        for stage, resource in _removal_order(self._orphans()):
            node = _Node(stage, resource, set())
            self.ctx.reporter.add(stage.name, resource.key, resource.label)
            outcomes.append(self._guarded(self._remove_one, node))
        return outcomes

    def _orphans(self) -> list[tuple[Stage, Resource]]:
        wanted = set(self._nodes)
        found = []
        for key in self.ctx.state.resources():
            stage = next((s for s in self.stages if key.startswith(f"{s.name}.")), None)
            if key in wanted or stage is None:
                continue
            resource = stage.orphan(self.ctx, key)
            if resource is not None:
                found.append((stage, resource))
        return found

    # -- scheduling ---------------------------------------------------------------------------

    def _build_nodes(self) -> dict[str, _Node]:
        nodes: dict[str, _Node] = {}
        stage_keys: dict[str, set[str]] = {}
        for stage in self.stages:
            upstream: set[str] = set().union(
                *(stage_keys.get(name, set()) for name in _closure(stage, self.stages))
            )
            resources = stage.resources(self.ctx)
            keys = {resource.key for resource in resources}
            for resource in resources:
                unknown = set(resource.after) - keys - set(nodes)
                if unknown:
                    raise ValueError(f"{resource.key} is after unknown {sorted(unknown)}")
                nodes[resource.key] = _Node(stage, resource, upstream | set(resource.after))
            stage_keys[stage.name] = keys
        return nodes

    def _run(
        self,
        operation: Callable[[_Node], Outcome],
        *,
        reverse: bool,
        stop_on_failure: bool,
        extra: Iterable[_Node] = (),
    ) -> Report:
        nodes = dict(self._nodes)
        for node in extra:
            nodes[node.resource.key] = node
        needs = _reversed_needs(nodes) if reverse else {k: set(n.needs) for k, n in nodes.items()}
        for key, node in nodes.items():
            self.ctx.reporter.add(node.stage.name, key, node.resource.label)
        started = time.monotonic()
        outcomes = _schedule(
            nodes, needs, lambda node: self._guarded(operation, node), stop_on_failure
        )
        order = {key: index for index, key in enumerate(nodes)}
        outcomes.sort(key=lambda outcome: order.get(outcome.key, len(order)))
        return Report(outcomes, time.monotonic() - started)

    def _guarded(self, operation: Callable[[_Node], Outcome], node: _Node) -> Outcome:
        started = time.monotonic()
        self.ctx.reporter.update(node.resource.key, "checking")
        try:
            outcome = operation(node)
        except Exception as error:
            problem = explain(error)
            if problem is None:
                raise
            outcome = self._outcome(node, Action.FAILED, [problem.message])
            outcome.error = problem
        outcome.seconds = time.monotonic() - started
        self.ctx.reporter.done(outcome)
        return outcome

    @staticmethod
    def _outcome(node: _Node, action: Action, details: list[str] | None = None) -> Outcome:
        return Outcome(
            node.stage.name, node.resource.key, node.resource.label, action, details or []
        )


def _schedule(
    nodes: dict[str, _Node],
    needs: dict[str, set[str]],
    run: Callable[[_Node], Outcome],
    stop_on_failure: bool,
) -> list[Outcome]:
    """Run every node once all it needs are done, up to MAX_PARALLEL at a time."""
    outcomes: list[Outcome] = []
    finished: set[str] = set()
    failed = threading.Event()
    pending = dict(needs)
    running: dict[Future[Outcome], str] = {}
    with ThreadPoolExecutor(max_workers=MAX_PARALLEL, thread_name_prefix="stage") as pool:
        while pending or running:
            if not (failed.is_set() and stop_on_failure):
                ready = [key for key, wanted in pending.items() if wanted <= finished]
                for key in ready:
                    del pending[key]
                    running[pool.submit(run, nodes[key])] = key
            if not running:
                break
            done, _ = wait(running, return_when=FIRST_COMPLETED)
            for future in done:
                key = running.pop(future)
                outcome = future.result()
                outcomes.append(outcome)
                finished.add(key)
                if outcome.action is Action.FAILED:
                    failed.set()
    for key in pending:
        node = nodes[key]
        outcomes.append(
            Outcome(node.stage.name, key, node.resource.label, Action.SKIPPED, ["not reached"])
        )
    return outcomes


def _removal_order(found: list[tuple[Stage, Resource]]) -> list[tuple[Stage, Resource]]:
    """Leftovers in reverse order of creation: one goes before those it was created after
    (a distribution before the access control it uses)."""
    remaining = list(reversed(found))
    ordered = []
    while remaining:
        needed = {key for _, resource in remaining for key in resource.after}
        ready = next((pair for pair in remaining if pair[1].key not in needed), remaining[0])
        remaining.remove(ready)
        ordered.append(ready)
    return ordered


def _reversed_needs(nodes: dict[str, _Node]) -> dict[str, set[str]]:
    """For removal: a resource goes once everything that needs it has gone."""
    reverse: dict[str, set[str]] = {key: set() for key in nodes}
    for key, node in nodes.items():
        for needed in node.needs:
            if needed in reverse:
                reverse[needed].add(key)
    return reverse


def _closure(stage: Stage, stages: list[Stage]) -> set[str]:
    by_name = {s.name: s for s in stages}
    seen: set[str] = set()
    todo = list(stage.needs)
    while todo:
        name = todo.pop()
        if name in seen or name not in by_name:
            continue
        seen.add(name)
        todo.extend(by_name[name].needs)
    return seen


def _in_dependency_order(stages: list[Stage]) -> list[Stage]:
    ordered: list[Stage] = []
    placed: set[str] = set()
    remaining = list(stages)
    while remaining:
        ready = [s for s in remaining if set(s.needs) <= placed | _absent(s, stages)]
        if not ready:
            raise ValueError(f"stage dependency cycle among {[s.name for s in remaining]}")
        for stage in ready:
            ordered.append(stage)
            placed.add(stage.name)
            remaining.remove(stage)
    return ordered


def _absent(stage: Stage, stages: list[Stage]) -> set[str]:
    names = {s.name for s in stages}
    return {name for name in stage.needs if name not in names}
