"""factory_boy factories for the core models. Apps may add their own next to their tests."""

import datetime as dt

import factory
from django.utils import timezone

from portail.accounts.models import User
from portail.catalog import models as catalog
from portail.households import models as hh
from portail.organisations.models import School, SchoolYear, Town

DEFAULT_PASSWORD = "correct-horse-battery-staple"


class TownFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Town
        django_get_or_create = ["name"]

    name = "Ville-sur-Test"
    email = "enfance@ville-sur-test.fr"
    phone = "01 23 45 67 89"
    school_holiday_zone = "A"


class SchoolYearFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = SchoolYear

    town = factory.SubFactory(TownFactory)
    label = "2026-2027"
    start_date = dt.date(2026, 9, 1)
    end_date = dt.date(2027, 7, 3)


class SchoolFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = School

    town = factory.SubFactory(TownFactory)
    name = factory.Sequence(lambda n: f"École {n}")


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = User
        skip_postgeneration_save = True

    email = factory.Sequence(lambda n: f"user{n}@example.org")
    first_name = "Camille"
    last_name = "Martin"
    password = factory.PostGenerationMethodCall("set_password", DEFAULT_PASSWORD)

    @factory.post_generation
    def _save(obj, create, extracted, **kwargs):
        if create:
            obj.save()


class StaffFactory(UserFactory):
    is_staff = True
    email = factory.Sequence(lambda n: f"agent{n}@mairie.example.org")

    @factory.post_generation
    def role(obj, create, extracted, **kwargs):
        """StaffFactory(role="Gestionnaire") puts the agent in that role's group."""
        if create and extracted:
            from portail.accounts.roles import ensure_roles

            obj.groups.add(ensure_roles()[extracted])


class HouseholdFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = hh.Household

    reference = factory.Sequence(lambda n: f"F{n:06d}")
    status = hh.HouseholdStatus.ACTIVE
    benefit_scheme = hh.BenefitScheme.CAF
    benefit_number = factory.Sequence(lambda n: f"{1000000 + n}")


class GuardianFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = hh.Guardian

    household = factory.SubFactory(HouseholdFactory)
    civility = hh.Civility.MME
    first_name = "Camille"
    last_name = factory.Sequence(lambda n: f"Martin{n}")
    email = factory.Sequence(lambda n: f"parent{n}@example.org")
    mobile_phone = "06 12 34 56 78"
    address_line1 = "1 rue des Écoles"
    postcode = "75001"
    city = "Ville-sur-Test"
    is_payer = True
    user = factory.SubFactory(UserFactory, email=factory.SelfAttribute("..email"))


class ChildFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = hh.Child

    household = factory.SubFactory(HouseholdFactory)
    first_name = factory.Sequence(lambda n: f"Enfant{n}")
    last_name = "Martin"
    birth_date = dt.date(2018, 5, 14)
    sex = hh.Sex.FEMALE
    school_level = hh.SchoolLevel.CE2


class HealthRecordFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = hh.HealthRecord

    child = factory.SubFactory(ChildFactory)
    allergies = "Arachide"
    has_care_plan = True
    care_plan_details = "PAI alimentaire : éviction arachide, trousse d'urgence."


class FacilityFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = catalog.Facility

    town = factory.SubFactory(TownFactory)
    name = factory.Sequence(lambda n: f"Structure {n}")
    slug = factory.Sequence(lambda n: f"structure-{n}")


class ActivityTypeFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = catalog.ActivityType
        django_get_or_create = ["slug"]

    name = "Mercredis"
    slug = "mercredis"


class ActivityFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = catalog.Activity

    facility = factory.SubFactory(FacilityFactory)
    activity_type = factory.SubFactory(ActivityTypeFactory)
    name = factory.Sequence(lambda n: f"Activité {n}")
    slug = factory.Sequence(lambda n: f"activite-{n}")
    payment_mode = catalog.PaymentMode.INVOICED


class PeriodFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = catalog.Period

    activity = factory.SubFactory(ActivityFactory)
    name = "Année 2026-2027"
    start_date = dt.date(2026, 9, 2)
    end_date = dt.date(2027, 7, 3)
    enrolment_opens_at = factory.LazyFunction(lambda: timezone.now() - dt.timedelta(days=30))
    enrolment_closes_at = factory.LazyFunction(lambda: timezone.now() + dt.timedelta(days=30))


class GroupFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = catalog.Group

    activity = factory.SubFactory(ActivityFactory)
    name = factory.Sequence(lambda n: f"Groupe {n}")
    capacity = 10


class UnitFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = catalog.Unit

    activity = factory.SubFactory(ActivityFactory)
    name = "Journée"
    kind = catalog.UnitKind.DAY
    start_time = dt.time(8, 30)
    end_time = dt.time(17, 30)
    price_cents = 1000


def make_family(*, children: int = 1, email: str | None = None, **household_kwargs):
    """A persona: an active household with one payer guardian (who can log in) and children."""
    household = HouseholdFactory(**household_kwargs)
    guardian_kwargs = {"household": household}
    if email:
        guardian_kwargs["email"] = email
    guardian = GuardianFactory(**guardian_kwargs)
    kids = [ChildFactory(household=household, last_name=guardian.last_name) for _ in range(children)]
    return household, guardian, kids


class SessionFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = catalog.Session

    unit = factory.SubFactory(UnitFactory)
    date = dt.date(2026, 12, 9)
