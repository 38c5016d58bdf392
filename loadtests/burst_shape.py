"""The `burst` scenario: a third of the users steadily, and all of them in two bursts.

Loaded beside locustfile.py only for `--scenario burst` (Locust uses any LoadTestShape it finds, which
would override -u/-r for every other scenario).
"""

from __future__ import annotations

from locust import LoadTestShape


class BurstShape(LoadTestShape):
    """Baseline load with two spikes to the full user count, at 25-40% and 65-80% of the run."""

    BURSTS = ((0.25, 0.40), (0.65, 0.80))

    def tick(self) -> tuple[int, float] | None:
        options = self.runner.environment.parsed_options if self.runner else None
        if options is None:
            return None
        run_time = self.get_run_time()
        if run_time >= options.run_time:
            return None
        progress = run_time / options.run_time
        peak = any(start <= progress < end for start, end in self.BURSTS)
        users = options.num_users if peak else max(1, options.num_users // 3)
        return users, max(options.spawn_rate, users)
