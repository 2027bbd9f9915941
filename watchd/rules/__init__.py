"""Rules: YAML threshold rules over samples, evaluated into alerts (DESIGN.md §4 "Rules").

load_rules(paths) -> RuleSet        check_rules(paths) -> [RuleProblem]
known_metrics(checks) -> MetricNames   (what rules may name: collectors' declarations)
RuleEngine(rules, clock=..., flap=...).observe(samples) / .evaluate() -> [Alert]
run_rule_tests(paths) -> RuleTestReport
"""

from watchd.rules.config import RulesConfig
from watchd.rules.engine import RuleEngine
from watchd.rules.loader import check_rules, load_rules
from watchd.rules.metrics import known_metrics
from watchd.rules.model import Rule, RuleError, RuleProblem, RuleSet

__all__ = [
    "Rule",
    "RuleEngine",
    "RuleError",
    "RuleProblem",
    "RuleSet",
    "RulesConfig",
    "check_rules",
    "known_metrics",
    "load_rules",
]
