import httpx
from fastapi import FastAPI
from voice_edge.webconfig import web_config_router


async def test_config_offers_api_keys_only_until_jwt_sign_in_exists() -> None:
    app = FastAPI()
    app.include_router(web_config_router())
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://edge") as client:
        response = await client.get("/api/config")
    assert response.status_code == 200
    assert response.headers["cache-control"] == "no-store"
    assert response.json() == {"auth": {"apiKey": True, "devIssuer": False, "cognito": None}}
