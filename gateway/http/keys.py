"""Typed application keys: every shared resource of the aiohttp app, in one place."""

from __future__ import annotations

import asyncpg
from aiohttp import web
from redis.asyncio import Redis

from gateway.http.auth import TokenCache
from gateway.metrics import Metrics
from gateway.services.agents import AgentDirectory
from gateway.services.credit import CreditService
from gateway.services.lookup import LookupService
from gateway.services.policies import PolicyHolder, PolicyReloads
from gateway.services.queue import QueueService
from gateway.services.screenpop import ScreenPop
from gateway.settings import Settings
from gateway.stores.replica import ReadPools

SETTINGS = web.AppKey("settings", Settings)
POLICY = web.AppKey("policy", PolicyHolder)  # read `.current` once per request (O2 reloads swap it)
RELOADS = web.AppKey("policy_reloads", PolicyReloads)  # O2: SIGHUP and POST /v1/admin/policy/reload
PG: web.AppKey[asyncpg.Pool] = web.AppKey("pg")
REDIS: web.AppKey[Redis] = web.AppKey("redis")
TOKENS = web.AppKey("tokens", TokenCache)
METRICS = web.AppKey("metrics", Metrics)
LOOKUP = web.AppKey("lookup", LookupService)
SCREENPOP = web.AppKey("screenpop", ScreenPop)
CREDIT = web.AppKey("credit", CreditService)
AGENTS = web.AppKey("agents", AgentDirectory)  # A1: the agents directory, held in memory
QUEUE = web.AppKey("queue", QueueService)  # A4/A5: the queue engine
READS = web.AppKey("reads", ReadPools)  # X2: the replica (if any) for misses and read-only views
