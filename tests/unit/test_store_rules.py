"""The store's shared rules: category order, supersession by category, product wait keys."""

from __future__ import annotations

from typing import get_args

from calibd.config import Settings
from calibd.events.calibpipe import CalibrationReady
from calibd.store.rules import (
    CATEGORIES,
    Category,
    category_rank,
    lower_categories,
    product_of_wait,
    product_wait_key,
    supersedes_by_category,
)


def test_categories_rank_a_below_b_below_c():
    assert CATEGORIES == ("A", "B", "C") == get_args(Category)
    assert [category_rank(c) for c in CATEGORIES] == [1, 2, 3]
    assert lower_categories("C") == ("A", "B")
    assert lower_categories("B") == ("A",)
    assert lower_categories("A") == ()


def test_the_models_use_the_one_category_literal():
    assert Settings.model_fields["default_category"].annotation == Category
    assert CalibrationReady.model_fields["category"].annotation == Category


def test_only_a_higher_category_supersedes():
    assert supersedes_by_category("C", "B") and supersedes_by_category("B", "A")
    assert not supersedes_by_category("B", "B")
    assert not supersedes_by_category("A", "C")


def test_product_wait_keys_round_trip():
    assert product_wait_key("pedestal", 3) == ("product:pedestal", "tel=3")
    assert product_of_wait(*product_wait_key("pedestal", 3)) == ("pedestal", 3)
    assert product_of_wait(*product_wait_key("transparency", None)) == ("transparency", None)
    assert product_of_wait("retry", "x") is None
