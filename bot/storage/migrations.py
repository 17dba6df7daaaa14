"""Schema migrations, applied in order, each once (schema_version records how far a file has come).

Append new migrations; never edit one that has shipped.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from bot.storage.base import Tx

MIGRATIONS: list[list[str]] = [
    # 1: accounts, the ledger, jobs and the vault
    [
        """CREATE TABLE accounts (
            platform TEXT NOT NULL,
            user_id TEXT NOT NULL,
            display_name TEXT NOT NULL DEFAULT '',
            balance INTEGER NOT NULL DEFAULT 0 CHECK (balance >= 0),
            debt INTEGER NOT NULL DEFAULT 0 CHECK (debt >= 0),
            created_at REAL NOT NULL,
            PRIMARY KEY (platform, user_id)
        )""",
        # tokens: signed change to the balance; debt_change: signed change to the debt.
        # free_pulls: free pulls used (+) or given back (-). day: UTC date, for daily limits.
        """CREATE TABLE ledger (
            id INTEGER PRIMARY KEY,
            idempotency_key TEXT NOT NULL UNIQUE,
            platform TEXT NOT NULL,
            user_id TEXT NOT NULL,
            kind TEXT NOT NULL,
            tokens INTEGER NOT NULL,
            debt_change INTEGER NOT NULL DEFAULT 0,
            free_pulls INTEGER NOT NULL DEFAULT 0,
            balance_after INTEGER NOT NULL CHECK (balance_after >= 0),
            job_id TEXT,
            reason TEXT NOT NULL DEFAULT '',
            day TEXT NOT NULL,
            created_at REAL NOT NULL,
            FOREIGN KEY (platform, user_id) REFERENCES accounts (platform, user_id)
        )""",
        "CREATE INDEX ledger_user_day ON ledger (platform, user_id, day)",
        """CREATE TABLE jobs (
            job_id TEXT PRIMARY KEY,
            kind TEXT NOT NULL CHECK (kind IN ('pull', 'order')),
            platform TEXT NOT NULL,
            user_id TEXT NOT NULL,
            display_name TEXT NOT NULL DEFAULT '',
            community_platform TEXT,
            community_id TEXT,
            community_title TEXT NOT NULL DEFAULT '',
            origin TEXT,
            format TEXT NOT NULL,
            pattern TEXT NOT NULL,
            case_mode TEXT NOT NULL,
            fuzzy INTEGER NOT NULL,
            split_pubkey TEXT,
            count INTEGER NOT NULL,
            budget INTEGER NOT NULL,
            expected_keys REAL NOT NULL DEFAULT 0,
            price INTEGER NOT NULL,
            free_pulls INTEGER NOT NULL,
            status TEXT NOT NULL CHECK (status IN
                ('accepted', 'submitted', 'running', 'found', 'delivered', 'failed', 'refunded')),
            backend TEXT NOT NULL DEFAULT '',
            backend_job_id TEXT,
            order_state TEXT,
            keys_checked INTEGER NOT NULL DEFAULT 0,
            elapsed_s REAL NOT NULL DEFAULT 0,
            result TEXT,
            error TEXT,
            delivery_attempted_at REAL,
            delivered_at REAL,
            best_one_in REAL,
            owner TEXT,
            lease_until REAL,
            created_at REAL NOT NULL,
            updated_at REAL NOT NULL,
            FOREIGN KEY (platform, user_id) REFERENCES accounts (platform, user_id)
        )""",
        "CREATE INDEX jobs_status ON jobs (status)",
        "CREATE INDEX jobs_user ON jobs (platform, user_id)",
        "CREATE INDEX jobs_community ON jobs (community_platform, community_id, best_one_in)",
        """CREATE TABLE job_steps (
            id INTEGER PRIMARY KEY,
            job_id TEXT NOT NULL REFERENCES jobs (job_id),
            status TEXT NOT NULL,
            at REAL NOT NULL
        )""",
        # The secret is AES-GCM ciphertext; nonce unique per row; purged rows keep no ciphertext.
        """CREATE TABLE vault (
            job_id TEXT NOT NULL REFERENCES jobs (job_id),
            position INTEGER NOT NULL,
            identifier TEXT NOT NULL,
            secret_kind TEXT NOT NULL,
            nonce BLOB,
            ciphertext BLOB,
            created_at REAL NOT NULL,
            delivered_at REAL,
            purged_at REAL,
            PRIMARY KEY (job_id, position)
        )""",
    ],
    # 2: look up identifiers already issued, to refuse a replayed grinder result
    [
        "CREATE INDEX vault_identifier ON vault (identifier)",
    ],
    # community (helper `community`): per-community settings and every settled pull's best, for
    # personal bests, streaks, weekly seasons and profiles. local_day and season are in the
    # operator's time zone at the time of the pull.
    [
        """CREATE TABLE community_settings (
            platform TEXT NOT NULL,
            community_id TEXT NOT NULL,
            pull_channel TEXT,
            pull_channel_label TEXT NOT NULL DEFAULT '',
            announce_channel TEXT,
            announce_channel_label TEXT NOT NULL DEFAULT '',
            pulls_allowed INTEGER NOT NULL DEFAULT 1,
            free_pulls_per_day INTEGER,
            updated_by TEXT NOT NULL DEFAULT '',
            updated_at REAL NOT NULL,
            PRIMARY KEY (platform, community_id)
        )""",
        """CREATE TABLE pull_bests (
            job_id TEXT PRIMARY KEY,
            platform TEXT NOT NULL,
            user_id TEXT NOT NULL,
            display_name TEXT NOT NULL DEFAULT '',
            community_platform TEXT,
            community_id TEXT,
            community_title TEXT NOT NULL DEFAULT '',
            family TEXT NOT NULL,
            pattern TEXT NOT NULL,
            best_key TEXT NOT NULL,
            best_one_in REAL NOT NULL,
            local_day TEXT NOT NULL,
            season TEXT NOT NULL,
            created_at REAL NOT NULL
        )""",
        "CREATE INDEX pull_bests_family ON pull_bests (platform, user_id, family)",
        "CREATE INDEX pull_bests_season ON pull_bests (community_platform, community_id, season, best_one_in)",
        "CREATE INDEX pull_bests_day ON pull_bests (platform, user_id, local_day)",
    ],
    # storage: the vault records which key sealed each secret (a fingerprint, never the key), and the
    # key the database was last opened with, so a lost or different key is refused at start;
    # payment events that could not be honoured, kept for the operator
    [
        "ALTER TABLE vault ADD COLUMN key_fingerprint TEXT",
        "CREATE TABLE vault_meta (name TEXT PRIMARY KEY, value TEXT NOT NULL)",
        """CREATE TABLE payment_issues (
            event_id TEXT PRIMARY KEY,
            event_type TEXT NOT NULL,
            stripe_id TEXT NOT NULL,
            reason TEXT NOT NULL,
            platform TEXT,
            user_id TEXT,
            amount_cents INTEGER NOT NULL DEFAULT 0,
            currency TEXT NOT NULL DEFAULT '',
            resolved_at REAL,
            created_at REAL NOT NULL
        )""",
    ],
    # ops: who made each ledger change (operator name); accounts the operator froze
    [
        "ALTER TABLE ledger ADD COLUMN actor TEXT",
        """CREATE TABLE account_holds (
            platform TEXT NOT NULL,
            user_id TEXT NOT NULL,
            reason TEXT NOT NULL,
            actor TEXT NOT NULL,
            created_at REAL NOT NULL,
            PRIMARY KEY (platform, user_id)
        )""",
    ],
    # grinding: which provider ran each grind job (pull, 10-pull or order chunk), its GPU-seconds and cost
    [
        """CREATE TABLE grind_usage (
            provider TEXT NOT NULL,
            backend_job_id TEXT NOT NULL,
            job_ref TEXT,
            kind TEXT NOT NULL,
            pulls INTEGER NOT NULL,
            gpu_s REAL NOT NULL,
            cost_usd REAL NOT NULL,
            outcome TEXT NOT NULL,
            at REAL NOT NULL,
            PRIMARY KEY (provider, backend_job_id)
        )""",
        "CREATE INDEX grind_usage_at ON grind_usage (at)",
        "CREATE INDEX grind_usage_job ON grind_usage (job_ref)",
    ],
    # late reveals: public reveals still queued when the bot stopped (a group at its message limit), kept
    # to post after the restart; only what the group would have seen, never a secret
    [
        """CREATE TABLE late_reveals (
            id INTEGER PRIMARY KEY,
            platform TEXT NOT NULL,
            chat_id TEXT NOT NULL,
            line TEXT NOT NULL,
            created_at REAL NOT NULL,
            claim TEXT,
            claimed_at REAL
        )""",
    ],
    # web: a community's public gallery (opt-in by an admin; reached by a random slug, never a platform id),
    # and whether a person chose to show their name on public pages
    [
        "ALTER TABLE community_settings ADD COLUMN gallery INTEGER NOT NULL DEFAULT 0",
        "ALTER TABLE community_settings ADD COLUMN gallery_slug TEXT",
        "CREATE UNIQUE INDEX community_settings_gallery_slug ON community_settings (gallery_slug)",
        """CREATE TABLE profile_visibility (
            platform TEXT NOT NULL,
            user_id TEXT NOT NULL,
            shown INTEGER NOT NULL,
            updated_at REAL NOT NULL,
            PRIMARY KEY (platform, user_id)
        )""",
    ],
    # grinding usage: 1 where the provider reported no billed seconds and gpu_s is the bot's estimate
    [
        "ALTER TABLE grind_usage ADD COLUMN estimated INTEGER NOT NULL DEFAULT 0",
    ],
    # i18n: the language a community's public messages are in (a shipped locale such as "es"); NULL: each
    # answer in the language of the person it answers
    [
        "ALTER TABLE community_settings ADD COLUMN language TEXT",
    ],
    # i18n: the language a job's public messages are in (an order's progress after a restart has no update to
    # take it from; NULL: English), and the kind of a failure people are told (bot/grinding/failures.py; the
    # engine's own words stay in `error`, for operators)
    [
        "ALTER TABLE jobs ADD COLUMN locale TEXT",
        "ALTER TABLE jobs ADD COLUMN error_kind TEXT",
    ],
]


async def apply_migrations(tx: Tx) -> None:
    """Bring a database up to the newest schema inside the caller's transaction: each migration once, in order."""
    await tx.execute("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)")
    row = await tx.fetchone("SELECT MAX(version) AS v FROM schema_version")
    current = row["v"] if row and row["v"] is not None else 0
    for version, statements in enumerate(MIGRATIONS, start=1):
        if version <= current:
            continue
        for statement in statements:
            await tx.execute(statement)
        await tx.execute("INSERT INTO schema_version (version) VALUES (?)", (version,))
