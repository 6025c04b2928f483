from io import StringIO

import pytest
from django.contrib.auth.hashers import check_password
from django.core.management import CommandError, call_command

from portail.accounts.models import User
from portail.catalog.models import Activity, Facility, Group, Period, Session, Unit
from portail.core.errors import BusinessError
from portail.demo import bench_data
from portail.demo import constants as C
from portail.demo.bench import bench_digest, seed_bench
from portail.demo.catalog import ACTIVITIES, FACILITIES
from portail.households.models import Child, Guardian, HealthRecord, Household
from portail.organisations.models import School
from tests.factories import make_family

pytestmark = pytest.mark.django_db

SCALE = 0.01  # 50 households, 80 children


def bench_children():
    return Child.objects.filter(household__reference__startswith="B")


def test_same_seed_gives_the_same_rows_and_another_seed_does_not():
    seed_bench(scale=SCALE, seed=7)
    first = bench_digest()
    seed_bench(scale=SCALE, seed=7, reset=True)
    assert bench_digest() == first
    seed_bench(scale=SCALE, seed=8, reset=True)
    assert bench_digest() != first


def test_dataset_follows_the_scale_and_the_percentages():
    result = seed_bench(scale=SCALE, seed=42)
    households = Household.objects.filter(reference__startswith="B")
    assert households.count() == 50
    assert bench_children().count() == 80
    assert Guardian.objects.filter(household__in=households).count() == 75  # 1.5 per household
    assert Guardian.objects.filter(household__in=households, is_payer=True).count() == 50
    records = HealthRecord.objects.filter(child__in=bench_children())
    assert records.count() == 80
    assert records.exclude(allergies="").count() == 8  # 10 %
    assert records.filter(has_care_plan=True).count() == 2  # 3 %
    assert not records.filter(has_care_plan=True, allergies="").exists()
    assert all(1 <= h.children.count() <= 4 for h in households)
    assert School.objects.count() == 12
    assert Activity.objects.count() == 40
    assert Session.objects.filter(unit__activity__slug__startswith="bench-").count() > 1000
    assert result.counts["households.Household"] == 50 and result.rows > 0


def test_bench_guardians_share_one_precomputed_password():
    seed_bench(scale=SCALE, seed=42)
    users = User.objects.filter(email__endswith="@" + C.BENCH_DOMAIN)
    assert users.count() == 75
    assert users.values("password").distinct().count() == 1
    assert check_password(C.BENCH_PASSWORD, users.first().password)


def test_second_run_is_refused_without_reset():
    seed_bench(scale=SCALE, seed=42)
    digest = bench_digest()
    with pytest.raises(BusinessError):
        seed_bench(scale=SCALE, seed=43)
    with pytest.raises(CommandError, match="--reset"):
        call_command("seed_bench", "--scale", "0.01", stdout=StringIO())
    assert bench_digest() == digest


def test_reset_removes_bench_rows_only():
    household, _, _ = make_family()
    seed_bench(scale=SCALE, seed=42)
    seed_bench(scale=0.004, seed=42, reset=True)  # 20 households
    assert Household.objects.filter(reference__startswith="B").count() == 20
    assert Household.objects.filter(pk=household.pk).exists()
    assert Household.objects.filter(reference__startswith="D").count() == 3  # the demo town stays
    assert User.objects.filter(email=C.MARTIN_EMAIL).exists()
    assert Activity.objects.count() == 40


def test_command_prints_rows_per_second():
    out = StringIO()
    call_command("seed_bench", "--scale", "0.004", "--seed", "1", stdout=out)
    assert "lignes/s" in out.getvalue()


def test_invalid_scale_is_refused():
    with pytest.raises(BusinessError):
        seed_bench(scale=0, seed=1)


def test_catalog_names_fit_their_columns():
    """SQLite does not enforce lengths; PostgreSQL does."""
    limits = {
        "facility": Facility._meta.get_field("slug").max_length,
        "slug": Activity._meta.get_field("slug").max_length,
        "name": Activity._meta.get_field("name").max_length,
        "period": Period._meta.get_field("name").max_length,
        "group": Group._meta.get_field("name").max_length,
        "unit": Unit._meta.get_field("name").max_length,
    }
    specs = [spec for _, spec in ACTIVITIES + bench_data.bench_activities()]
    assert all(len(f["slug"]) <= limits["facility"] for f in FACILITIES + bench_data.bench_facilities())
    for spec in specs:
        assert len(spec.slug) <= limits["slug"], spec.slug
        assert len(spec.name) <= limits["name"]
        assert all(len(period[0]) <= limits["period"] for period in spec.periods)
        assert all(len(group["name"]) <= limits["group"] for group in spec.groups)
        assert all(len(unit.name) <= limits["unit"] for unit in spec.units)
    assert len(specs) == 40


def test_bench_children_hold_validated_enrolments_within_their_groups_places():
    from django.db.models import Count

    from portail.enrolments.eligibility import check_group_band
    from portail.enrolments.models import Enrolment, EnrolmentStatus

    result = seed_bench(scale=SCALE, seed=42)
    enrolments = Enrolment.objects.filter(child__in=bench_children()).select_related("child", "group", "period")
    assert enrolments.count() == result.counts["enrolments.Enrolment"] > 0
    assert set(enrolments.values_list("status", flat=True)) == {EnrolmentStatus.VALIDATED}
    assert all(e.reference and e.reference.startswith("INS-2026-") for e in enrolments)
    assert not [e for e in enrolments if check_group_band(child=e.child, period=e.period, group=e.group)]
    for group in Group.objects.filter(activity__slug__startswith="bench-").annotate(n=Count("enrolments")):
        assert group.n <= (group.capacity or 0), group
    slugs = set(enrolments.values_list("activity__slug", flat=True))
    assert any(s.startswith("bench-mercredis-") for s in slugs)
    assert any(s.startswith("bench-restauration-") for s in slugs)
    # Sessions of the activities booked day by day have places: the facility's.
    assert not Unit.objects.filter(activity__slug__startswith="bench-mercredis-", capacity__isnull=True).exists()
