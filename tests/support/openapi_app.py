#!/usr/bin/env python3
"""A FastAPI app for the import-openapi tests: nested pydantic models, an enum, optional
fields, path parameters, a file upload and an undocumented endpoint. Every handler answers
{"reached": <what>}, so the test can tell the app's answers from Rampart's. Prints its
address first."""

import enum
import socket
from typing import List, Optional

import uvicorn
from fastapi import FastAPI, File, UploadFile
from pydantic import BaseModel, Field

app = FastAPI(title="Shop", version="2.4.0")


class Status(str, enum.Enum):
    draft = "draft"
    placed = "placed"


class Line(BaseModel):
    sku: str = Field(pattern=r"^[A-Z]{3}-[0-9]+$")
    quantity: int = Field(ge=1, le=100)


class Address(BaseModel):
    street: str
    city: str
    note: Optional[str] = None


class Order(BaseModel):
    lines: List[Line] = Field(min_length=1)
    status: Status = Status.draft
    ship_to: Address
    coupon: Optional[str] = None


@app.get("/items/latest")
def latest_item():
    return {"reached": "latest"}


@app.get("/items/{item_id}")
def read_item(item_id: int):
    return {"reached": f"item {item_id}"}


@app.post("/orders")
def create_order(order: Order):
    return {"reached": "order", "lines": len(order.lines)}


@app.put("/orders/{order_id}")
def replace_order(order_id: int, order: Order):
    return {"reached": f"order {order_id}"}


@app.get("/orders")
def list_orders(limit: int = 10):
    return {"reached": "orders"}


@app.post("/files")
def upload(file: UploadFile = File(...)):
    return {"reached": "upload", "name": file.filename}


@app.get("/internal/debug", include_in_schema=False)
def debug():
    return {"reached": "debug"}


sock = socket.socket()
sock.bind(("127.0.0.1", 0))
sock.listen(128)  # connections wait in the backlog until uvicorn accepts them
host, port = sock.getsockname()
print(f"listening on {host}:{port}", flush=True)
uvicorn.Server(uvicorn.Config(app, log_level="warning")).run(sockets=[sock])
