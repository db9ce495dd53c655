"""The commented spec that ``redisops init`` writes."""

from __future__ import annotations

__all__ = ["DEFAULT_SPEC"]

DEFAULT_SPEC = """\
# redisops topology spec. Check it with `redisops config validate`; start it with `redisops up`.
# Local state (configs, data, logs, pids) lives in .redisops/<name>/, one directory per node.
name: demo

redis:
  image: redis:7.0.15            # pinned image used by `redisops render compose`

auth:
  # a password per ACL user (admin, app, replication, sentinel, exporter) and the sentinels' own, generated
  # into this file (mode 0600); see docs/acl.md
  secrets_file: redisops.secrets.yaml

tls:
  # auto: TLS wherever nodes listen beyond loopback, so every `render compose` project (its containers talk over
  # a network) and none for local nodes on 127.0.0.x. true: TLS only (port 0, tls-port on the ports below),
  # replication, the cluster bus and the sentinels over TLS, client certificates; `up` makes the CA and the
  # certificates in .redisops/<name>/tls. false: never. To change it later: `redisops down`, then
  # `redisops up` (docs/tls.md).
  enabled: auto

# Sentinel groups: 1 master + `replicas` replicas, watched by `sentinels` sentinels.
# Ports: redis on port..port+replicas, sentinels on sentinel_port..sentinel_port+sentinels-1.
# 6400/26400 rather than 6379/26379, so a distribution's own redis service does not collide.
sentinel:
  - name: mymaster
    hosts: [127.0.0.1]           # several loopback addresses (127.0.0.2, ...) simulate several hosts
    port: 6400
    replicas: 2
    sentinels: 3                 # odd, >= 3, on independently failing hosts in production
    sentinel_port: 26400
    quorum: 2                    # sentinels that must agree the master is down; failover still needs a majority
    down_after_ms: 5000          # keep >= 2000 on real networks (false failovers below that: redis#8607)
    failover_timeout_ms: 60000   # > 2 x down_after_ms
    parallel_syncs: 1            # replicas resyncing at once after a failover
    min_replicas_to_write: 0     # 1 bounds writes lost to a partitioned old master (with min_replicas_max_lag)
    min_replicas_max_lag: 10
    persistence: both            # none | rdb | aof | both (AOF everysec + RDB snapshots)
    maxmemory: 256mb
    maxmemory_policy: noeviction
    # role: store                # store | cache: the policy `redisops tune memory` picks (noeviction | allkeys-lfu)

# Redis Cluster: `masters` shards, each with `replicas_per_master` replicas on another host where possible.
# Ports port..port+masters*(1+replicas_per_master)-1; cluster bus on port+10000.
cluster:
  name: main
  hosts: [127.0.0.1]
  port: 7000
  masters: 3
  replicas_per_master: 1
  node_timeout_ms: 5000          # time before a node is marked failed and its replica promoted
  persistence: both
  maxmemory: 256mb
  maxmemory_policy: noeviction
  # role: store                  # store | cache, as above

compose:
  subnet: 172.28.0.0/24          # static container addresses for `redisops render compose`

backup:
  target: file://./backups       # or s3://bucket/prefix (credentials the usual AWS way), gs://bucket/prefix
  source: replica                # take RDBs from a replica, sparing the master
  # schedule: "0 * * * *"        # cron, for `redisops backup schedule`
  keep: {last: 24, daily: 7, weekly: 4}

# firewall:                      # `redisops firewall render|apply`: who may reach the ports; see docs/firewall.md
#   clients: [127.0.0.0/8, "::1/128"]   # networks allowed to the data and sentinel ports (members always are)

# alerts:                        # where `redisops watch` sends incidents; see docs/alerts.md
#   channels:
#     - {type: slack, webhook_url_env: SLACK_WEBHOOK_URL}
"""
