import io

import pytest
from PIL import Image
from rest_framework.test import APIClient

from accounts.services import create_tenant_with_key


def _client(name):
    tenant, key = create_tenant_with_key(name)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {key}")
    client.tenant = tenant
    return client


@pytest.fixture
def api(db):
    return _client("acme")


@pytest.fixture
def other_api(db):
    return _client("globex")


@pytest.fixture
def order(api):
    response = api.post("/v1/orders", {"package": "trial", "styles": ["corporate-navy", "tech-grey"]}, format="json")
    assert response.status_code == 201, response.content
    return response.json()


@pytest.fixture(scope="session")
def two_faces_jpeg(person_photos, other_person_photo) -> bytes:
    """Two different people side by side in one photo."""
    left, right = Image.open(person_photos[0]).convert("RGB"), Image.open(other_person_photo).convert("RGB")
    right = right.resize((round(right.width * left.height / right.height), left.height))
    canvas = Image.new("RGB", (left.width + right.width, left.height), "white")
    canvas.paste(left, (0, 0))
    canvas.paste(right, (left.width, 0))
    out = io.BytesIO()
    canvas.save(out, format="JPEG")
    return out.getvalue()
