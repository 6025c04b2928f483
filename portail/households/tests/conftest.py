import pytest

from tests.factories import StaffFactory, make_family


@pytest.fixture
def family(db):
    """(household, payer guardian, [child]) of an active household."""
    return make_family(children=1)


@pytest.fixture
def family_client(client, family):
    client.force_login(family[1].user)
    return client


@pytest.fixture
def manager(db):
    return StaffFactory(role="Gestionnaire")


@pytest.fixture
def agent(db):
    return StaffFactory(role="Agent d'accueil")


@pytest.fixture
def cashier(db):
    return StaffFactory(role="Régisseur")
