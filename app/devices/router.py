from __future__ import annotations

import uuid

from fastapi import Request, Response, status

from app.auth.deps import CurrentUser
from app.db import SessionDep
from app.devices import service
from app.devices.schemas import DeviceRead, DeviceRegister
from app.pagination import CursorParam, LimitParam, Page
from app.routing import make_router, problem_responses

router = make_router(prefix="/v1/devices", tags=["devices"], responses=problem_responses(401))


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    response_model=DeviceRead,
    responses={200: {"model": DeviceRead, "description": "The token was known: refreshed"}},
)
async def register_device(
    data: DeviceRegister,
    user: CurrentUser,
    session: SessionDep,
    response: Response,
    request: Request,
) -> DeviceRead:
    """Register this phone's FCM token for push (201 new, 200 already registered).

    A user has at most NW_MAX_DEVICES_PER_USER (default 20) active devices: registering
    one more deactivates the least recently seen."""
    max_active = request.app.state.settings.max_devices_per_user
    device, created = await service.register_device(session, user, data, max_active)
    if not created:
        response.status_code = status.HTTP_200_OK
    return DeviceRead.model_validate(device)


@router.get("", response_model=Page[DeviceRead])
async def list_devices(
    user: CurrentUser, session: SessionDep, limit: LimitParam = 50, cursor: CursorParam = None
) -> Page[DeviceRead]:
    """The caller's own devices, newest first."""
    return await service.list_devices(session, user, limit, cursor)


@router.delete(
    "/{device_id}", status_code=status.HTTP_204_NO_CONTENT, responses=problem_responses(404)
)
async def delete_device(device_id: uuid.UUID, user: CurrentUser, session: SessionDep) -> None:
    """Unregister one of the caller's devices."""
    await service.delete_device(session, user, device_id)
