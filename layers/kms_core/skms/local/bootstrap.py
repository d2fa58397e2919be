"""First-start credentials for `skms serve`, so that a developer's SDK and the server agree.

- With ``HUAWEICLOUD_SDK_AK`` / ``HUAWEICLOUD_SDK_SK`` / ``HUAWEICLOUD_SDK_PROJECT_ID`` (and optionally
  ``HUAWEICLOUD_SDK_DOMAIN_ID``) set - the variables the SDK's environment credential provider
  reads - that access key is made to exist.
- Either way the credential's project is claimed for its domain (a store made before projects had
  owners gets its bootstrap project claimed here; a project of another domain is refused).
- Without them, the first start creates one access key and writes it to
  ``<data dir>/credentials.json`` (mode 0600); later starts reuse it.
"""

from __future__ import annotations

import json
import os
import secrets
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from skms.auth.principals import claim_projects, create_access_key, ensure_access_key
from skms.runtime import Services

CREDENTIALS_FILE = "credentials.json"


def bootstrap_credentials(services: Services, env: Mapping[str, str]) -> tuple[str, Path | None]:
    """Returns (access key, credentials file written or reused, if any)."""
    access_key = env.get("HUAWEICLOUD_SDK_AK")
    secret_key = env.get("HUAWEICLOUD_SDK_SK")
    project_id = env.get("HUAWEICLOUD_SDK_PROJECT_ID")
    domain_id = env.get("HUAWEICLOUD_SDK_DOMAIN_ID") or services.settings.domain_id
    if access_key and secret_key and project_id:
        claim_projects(services, domain_id, (project_id,))
        ensure_access_key(
            services,
            access_key=access_key,
            secret_key=secret_key,
            domain_id=domain_id,
            project_ids=(project_id,),
        )
        return access_key, None

    path = services.settings.data_dir / CREDENTIALS_FILE
    if path.exists():
        saved: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
        claim_projects(services, saved["domain_id"], (saved["project_id"],))
        ensure_access_key(
            services,
            access_key=saved["access"],
            secret_key=saved["secret"],
            domain_id=saved["domain_id"],
            project_ids=(saved["project_id"],),
        )
        return str(saved["access"]), path

    project_id = secrets.token_hex(16)
    from skms.auth.principals import new_access_key

    access_key, secret_key = new_access_key()
    claim_projects(services, domain_id, (project_id,))
    create_access_key(
        services,
        domain_id=domain_id,
        project_ids=(project_id,),
        access_key=access_key,
        secret_key=secret_key,
        description="local bootstrap",
    )
    document = {"access": access_key, "secret": secret_key, "project_id": project_id, "domain_id": domain_id}
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as out:
        json.dump(document, out, indent=2)
        out.write("\n")
    return access_key, path
