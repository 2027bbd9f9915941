"""The states of checks other nodes poll, as they last saved them, for this node's API and
dashboard: any node shows every check, not just its own share, and none shows PENDING for a
check that runs elsewhere. Read every REFRESH seconds, and only while other nodes own checks
(never on a single node)."""

from __future__ import annotations

from collections.abc import Callable, Collection
from typing import TYPE_CHECKING

from watchd.checks import CheckState
from watchd.cluster.assign import CheckKey
from watchd.failures import FailureLog
from watchd.logging import get_logger
from watchd.results import STATE_NAMESPACE, state_key

if TYPE_CHECKING:
    from watchd.clock import Clock
    from watchd.store import Store

log = get_logger("watchd.cluster")

REFRESH = 10.0  # seconds: a view for people, a few saves behind at most


class RemoteStates:
    """Check states of the checks `elsewhere()` names, read from the store now and then."""

    def __init__(
        self, store: Store, *, clock: Clock, elsewhere: Callable[[], Collection[CheckKey]]
    ) -> None:
        self._store = store
        self._clock = clock
        self._elsewhere = elsewhere
        self._states: dict[CheckKey, CheckState] = {}
        self._failures = FailureLog(
            log, failing="remote_check_states_not_read", recovered="remote_check_states_read"
        )

    def get(self, key: CheckKey) -> CheckState | None:
        """The state another node last saved for this check, if read yet."""
        return self._states.get(key)

    async def refresh(self) -> None:
        """Read the states of the checks other nodes own now."""
        keys = self._elsewhere()
        if not keys:
            self._states = {}
            return
        saved = await self._store.load_states_of(STATE_NAMESPACE, [state_key(k) for k in keys])
        states = {}
        for key in keys:
            data = saved.get(state_key(key))
            if data is None:
                continue
            try:
                states[key] = CheckState.from_json(data)
            except (KeyError, ValueError, TypeError):
                continue  # the owner logs its own unreadable states
        self._states = states

    async def run(self) -> None:
        """Refresh every REFRESH seconds until cancelled; failures are logged once each."""
        while True:
            try:
                await self.refresh()
            except Exception as exc:
                self._failures.failed(error=str(exc))
            else:
                self._failures.recovered()
            await self._clock.sleep(REFRESH)
