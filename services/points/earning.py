"""Pricing a purchase under an earning program: how many points, and how each was earned. Pure, no I/O.

The rules, in order (docs/program.md#how-a-purchase-is-priced):

1. base: the rate of the purchase currency times the whole currency units
   paid (the fraction of a unit earns nothing; the minor-unit exponent comes
   from ISO 4217 data, so JPY has none and BHD three).
2. rules, in file order. A rule matching SKUs or categories applies to line
   items: each line takes the first such rule it matches, so reduced-earning
   rules (multiplier below 1) can be listed before broader ones. Its
   multiplier m adds (m - 1) x rate on the whole units of those lines: m = 3
   earns 3x in all, m = 0 takes the base back. Rules below 1 count whole
   units together, in file order: each has the whole units of the running
   total of their lines' amounts less those the earlier ones had, so the
   fractions their lines leave add up as they do in the base. Line amounts
   are scaled down in proportion when they add up to more than was paid (a
   discount), so no line earns on money that was not paid. A rule matching
   only channel or minimum spend applies to the whole purchase, and every
   such rule applies. Its multiplier scales the earned base (base plus
   reductions).
3. campaigns, each one whose window holds the purchase's occurred_at; they
   add to rules, never replace them.
4. tier bonus: the member's tier's percentage of the earned base.
5. caps, last: per purchase, then per day (with the points the member
   already earned that program day), each as a negative component.

Rounding rule: each component is computed exactly in Decimal and rounded on
its own to whole points by the program's `rounding` (down by default), except
reductions: the reduced base is rounded once like the base, and each
reduction is the difference it makes to it, so a multiplier of 0 takes back
all its lines earned, whatever the rounding. The reduced base is never
negative (the proportional line amounts never add up to more than was paid),
and caps round toward zero, so the total is never negative.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import ROUND_DOWN, ROUND_HALF_UP, ROUND_UP, Decimal, localcontext
from fractions import Fraction

from services.common.bounds import MAX_POINTS
from services.common.currencies import minor_unit_exponent
from services.common.decimals import decimal_text
from services.common.errors import InvalidArgument
from services.points.domain import LineItem, Purchase
from services.points.program import BonusPer, Caps, Program, Rounding, Rule

_MODES = {Rounding.DOWN: ROUND_DOWN, Rounding.HALF_UP: ROUND_HALF_UP, Rounding.UP: ROUND_UP}


@dataclass(frozen=True)
class EarnComponent:
    """One reason for points: "base", "rule:<id>", "campaign:<id>", "tier_bonus:<tier>",
    "cap:per_purchase" or "cap:per_day" (caps and reduced-earning rules are negative)."""

    source: str
    points: int
    description: str


@dataclass(frozen=True)
class EarnDecision:
    """What a purchase earns under a program, and when the points become available and expire."""

    program_id: str
    components: tuple[EarnComponent, ...]
    # End of the pending window, counted from the purchase's occurred_at.
    available_at: datetime
    # From the fixed term after earning; None when points do not expire by age.
    expires_at: datetime | None

    @property
    def total(self) -> int:
        """The points earned: the sum of the components, never negative."""
        return sum(component.points for component in self.components)

    def summary(self) -> str:
        """One line for a ledger entry's description, e.g. "base 420, rule:dining +420, tier_bonus:gold +105"."""
        return ", ".join(
            f"{c.source} {c.points:+d}" if index else f"{c.source} {c.points}"
            for index, c in enumerate(self.components)
        )


@dataclass(frozen=True)
class _Line:
    item: LineItem
    # What was paid for the line in minor units: exact, so shares of a discount never add up to more.
    paid_minor: Fraction
    # The multiplier of the line's item rule when below 1 (a reduced base), else 1.
    base_factor: Fraction


@dataclass(frozen=True)
class _Context:
    program: Program
    purchase: Purchase
    rate: Decimal
    # 10 ** the currency's minor-unit exponent.
    unit: int
    lines: tuple[_Line, ...]
    # Each line's item rule (its first match), by line index.
    item_rules: dict[int, Rule]

    @property
    def currency(self) -> str:
        return self.purchase.amount.currency

    def points(self, exact: Decimal) -> int:
        mode = _MODES[self.program.earning.rounding] if exact >= 0 else ROUND_DOWN
        return int(exact.to_integral_value(rounding=mode))

    def base_units(self, lines: Sequence[_Line], *, reduced_base: bool) -> Decimal:
        """The whole units of `lines`, each line's counted at its base factor when `reduced_base`.

        A reduced line's base is its factor times its whole units (what the
        reductions leave of it), not the whole units of its factor times its
        amount: 101.00 at 0.5 is 50.5 units' worth. Lines of one factor add
        their fractions of a unit up, as in the base.
        """
        paid_by_factor: dict[Fraction, Fraction] = {}
        for line in lines:
            factor = line.base_factor if reduced_base else Fraction(1)
            paid_by_factor[factor] = paid_by_factor.get(factor, Fraction(0)) + line.paid_minor
        units = sum((factor * math.floor(paid / self.unit) for factor, paid in paid_by_factor.items()), Fraction(0))
        return Decimal(units.numerator) / Decimal(units.denominator)


def price_purchase(program: Program, purchase: Purchase, *, member_tier: str | None, earned_today: int) -> EarnDecision:
    """Price a validated purchase.

    `member_tier`: the tier of the program whose bonus it earns (`tiers.priced_tier`); None: no tier bonus.

    `earned_today`: the points the member earned from purchases earlier on the
    program day of the purchase (`program.day_bounds(purchase.occurred_at)`),
    for the per-day cap.
    """
    rate = _base_rate(program, purchase.amount.currency)
    # Ample precision: every product of the schema's bounded values stays exact before rounding.
    with localcontext() as decimal_context:
        decimal_context.prec = 60
        components = _components(_context(program, purchase, rate), member_tier)
    components += _caps(program.earning.caps, sum(c.points for c in components), earned_today)
    decision = EarnDecision(
        program_id=program.id,
        components=tuple(components),
        available_at=program.available_at(purchase.occurred_at),
        expires_at=program.expires_at(purchase.occurred_at),
    )
    if decision.total > MAX_POINTS:
        raise InvalidArgument.single(
            _field_past_the_ceiling(program, decision), f"earns more than {MAX_POINTS} points, the most one entry holds"
        )
    return decision


def _field_past_the_ceiling(program: Program, decision: EarnDecision) -> str:
    """What takes a purchase past MAX_POINTS: its line items when without the points their rules earn (bonus
    points per unit, multipliers on lines) it would stay within, else the amount paid, which the rest is earned on."""
    rules = (*program.earning.rules, *program.earning.campaigns)
    on_items = {_source(rule) for rule in rules if rule.match.per_item}
    from_items = sum(c.points for c in decision.components if c.source in on_items)
    return "line_items" if decision.total - from_items <= MAX_POINTS else "amount.amount_minor"


def _base_rate(program: Program, currency: str) -> Decimal:
    rate = program.earning.base_rates.get(currency)
    if rate is None:
        earns_in = ", ".join(sorted(program.earning.base_rates))
        raise InvalidArgument.single(
            "amount.currency_code", f"program {program.id!r} earns no points in {currency}; it earns in {earns_in}"
        )
    return rate


def _context(program: Program, purchase: Purchase, rate: Decimal) -> _Context:
    item_rules = _item_rules(program.earning.rules, purchase)
    listed = sum(item.quantity * item.unit_price.amount_minor for item in purchase.line_items)
    # Lines adding up to more than was paid (a discount) are scaled down; less (shipping, tax) is left as is.
    share = min(Fraction(1), Fraction(purchase.amount.amount_minor, listed)) if listed else Fraction(0)
    lines = []
    for index, item in enumerate(purchase.line_items):
        rule = item_rules.get(index)
        factor = Fraction(rule.multiplier) if rule and rule.multiplier is not None and rule.multiplier < 1 else 1
        lines.append(_Line(item, item.quantity * item.unit_price.amount_minor * share, Fraction(factor)))
    unit = 10 ** minor_unit_exponent(purchase.amount.currency)
    return _Context(program, purchase, rate, unit, tuple(lines), item_rules)


def _item_rules(rules: Sequence[Rule], purchase: Purchase) -> dict[int, Rule]:
    """The first item rule (matching SKUs or categories) that applies to each line, by line index."""
    item_rules = [rule for rule in rules if rule.match.per_item and rule.applies_to(purchase)]
    chosen: dict[int, Rule] = {}
    for index, item in enumerate(purchase.line_items):
        rule = next((rule for rule in item_rules if rule.match.matches_item(item)), None)
        if rule is not None:
            chosen[index] = rule
    return chosen


def _components(context: _Context, member_tier: str | None) -> list[EarnComponent]:
    """Base, rules in file order, campaigns in file order, tier bonus; zero-point ones left out but base."""
    whole_units = context.purchase.amount.amount_minor // context.unit
    base_exact = context.rate * whole_units
    base = EarnComponent(
        "base",
        context.points(base_exact),
        f"{context.rate} points per {context.currency} on {whole_units} whole units",
    )
    rules = context.program.earning.rules
    # Reductions lower the base itself, so they come first: the other multipliers and the tier bonus use it.
    reductions = _reductions(context, base_exact, base.points)
    earned_base = base.points + sum(c.points for c in reductions.values() if c)
    found = [
        *(reductions[r.id] if _is_reduction(r) else _rule_component(context, r, earned_base) for r in rules),
        *(_rule_component(context, campaign, earned_base) for campaign in context.program.earning.campaigns),
        _tier_bonus(context, member_tier, earned_base),
    ]
    return [base, *(c for c in found if c and c.points)]


def _is_reduction(rule: Rule) -> bool:
    return rule.multiplier is not None and rule.multiplier < 1


def _reductions(context: _Context, base_exact: Decimal, base_points: int) -> dict[str, EarnComponent | None]:
    """Each reduced-earning rule's component, by rule id, in file order.

    A rule's whole units are those of the running total of the reduced lines'
    amounts, less the whole units the rules before it had: the base counts
    the whole amount paid, so fractions of a unit left by each rule's lines
    add up to whole units there, and a rule flooring its own lines alone would
    leave those units earning (25.50 of gift cards and 2.50 of taxes, both at
    x0: 28 units in the base, 25 + 2 taken back). A single rule counts the
    whole units of its lines, as before.

    The reduced base is rounded once, as the base is, and each reduction is
    what its rule moves that rounded value by: rounded on its own toward zero,
    a reduction would leave the fraction the base rounded up, so lines at
    multiplier 0 (1.00 EUR at 1.5 points) would still earn a point.
    """
    reductions: dict[str, EarnComponent | None] = {}
    exact, earned = base_exact, base_points
    # The minor units of every reduced line so far, and the whole units they made: the fractions of a unit the
    # rules' lines leave add up across rules as they do in the base, which counts the whole amount paid.
    reduced_minor, counted_units = Fraction(0), 0
    for rule in context.program.earning.rules:
        if not _is_reduction(rule):
            continue
        assert rule.multiplier is not None
        lines = [line for index, line in enumerate(context.lines) if context.item_rules.get(index) is rule]
        if not lines:
            reductions[rule.id] = None
            continue
        reduced_minor += sum((line.paid_minor for line in lines), Fraction(0))
        whole_units = math.floor(reduced_minor / context.unit) - counted_units
        counted_units += whole_units
        exact += (rule.multiplier - 1) * context.rate * whole_units
        reduced = context.points(exact)
        how = f"x{rule.multiplier} on {whole_units} {context.currency} units of items"
        reductions[rule.id] = _component(rule, reduced - earned, how)
        earned = reduced
    return reductions


def _rule_component(context: _Context, rule: Rule, earned_base: int) -> EarnComponent | None:
    if rule.window is None and rule.match.per_item:
        return _item_rule(context, rule)
    if not rule.applies_to(context.purchase):
        return None
    if rule.match.per_item:
        # A campaign on items applies to every matching line, on what the line's base earns.
        lines = [line for line in context.lines if rule.match.matches_item(line.item)]
        return _on_lines(context, rule, lines, reduced_base=True) if lines else None
    if rule.multiplier is not None:
        exact = (rule.multiplier - 1) * earned_base
        return _component(rule, context.points(exact), f"x{rule.multiplier} on {earned_base} base points")
    assert rule.bonus_points is not None
    if not context.purchase.amount.amount_minor:
        return None  # nothing was paid: a free order earns no bonus
    return _component(rule, rule.bonus_points, f"{rule.bonus_points} bonus points on the purchase")


def _item_rule(context: _Context, rule: Rule) -> EarnComponent | None:
    """An item rule's component on the lines that took it as their first match."""
    lines = [line for index, line in enumerate(context.lines) if context.item_rules.get(index) is rule]
    return _on_lines(context, rule, lines, reduced_base=False) if lines else None


def _on_lines(context: _Context, rule: Rule, lines: Sequence[_Line], *, reduced_base: bool) -> EarnComponent | None:
    if rule.bonus_points is not None:
        # Items given away (nothing paid for the line) earn no bonus, as they earn no base.
        lines = [line for line in lines if line.paid_minor > 0]
        if not lines:
            return None
        if rule.per is BonusPer.UNIT:
            units = sum(line.item.quantity for line in lines)
            return _component(rule, rule.bonus_points * units, f"{rule.bonus_points} bonus points x {units} units")
        return _component(rule, rule.bonus_points, f"{rule.bonus_points} bonus points")
    assert rule.multiplier is not None
    base_units = context.base_units(lines, reduced_base=reduced_base)
    exact = (rule.multiplier - 1) * context.rate * base_units
    how = f"x{rule.multiplier} on {decimal_text(base_units)} {context.currency} units of items"
    return _component(rule, context.points(exact), how)


def _component(rule: Rule, points: int, how: str) -> EarnComponent:
    about = f"{rule.description}: " if rule.description else ""
    return EarnComponent(_source(rule), points, f"{about}{how}")


def _source(rule: Rule) -> str:
    return f"{'rule' if rule.window is None else 'campaign'}:{rule.id}"


def _tier_bonus(context: _Context, tier: str | None, earned_base: int) -> EarnComponent | None:
    if tier is None:
        return None
    percent = context.program.tier_bonus_percent(tier)
    if not percent:
        return None
    points = context.points(earned_base * percent / 100)
    return EarnComponent(f"tier_bonus:{tier}", points, f"{tier} tier: {percent}% of {earned_base} base points")


def _caps(caps: Caps, subtotal: int, earned_today: int) -> list[EarnComponent]:
    adjustments = []
    if caps.per_purchase is not None and subtotal > caps.per_purchase:
        cut = caps.per_purchase - subtotal
        adjustments.append(EarnComponent("cap:per_purchase", cut, f"at most {caps.per_purchase} points a purchase"))
        subtotal = caps.per_purchase
    if caps.per_day is not None:
        earlier = max(0, earned_today)
        room = max(0, caps.per_day - earlier)
        if subtotal > room:
            how = f"at most {caps.per_day} points a day; {earlier} earned earlier that day"
            adjustments.append(EarnComponent("cap:per_day", room - subtotal, how))
    return adjustments
