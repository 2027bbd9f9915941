"""People and on-call (DESIGN.md §5 People): users, teams, on-call schedules and overrides.

    config.py     [[users]], [[teams]], [[schedules]]: the config models and their problems
    oncall.py     on_call(schedule, at, overrides) and shifts(schedule, start, end, overrides)
    overrides.py  the stored overrides (store access: add, list, delete, active_overrides)

It sits below incidents and notify (escalation resolves a schedule to people) and imports only
the store and base modules.
"""
