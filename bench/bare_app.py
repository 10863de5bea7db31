"""The baseline for bench/incidents.py: FastAPI answering a constant, nothing else."""

from fastapi import FastAPI

app = FastAPI()


@app.post("/bare", status_code=201)
async def bare() -> dict[str, str]:
    return {"status": "ok"}
