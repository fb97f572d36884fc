/* SPDX-License-Identifier: MIT */
#pragma once

/*
 * The daemon's core objects: the Manager (event loop, control socket, configuration,
 * counters), a Conn per client and a Request per received datagram. Owns accepting,
 * reading, dispatching to handlers, replying with back-pressure and the client limit.
 * Must not know what any request means: that is the handlers' (handlers.c).
 */

#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <systemd/sd-event.h>

#include "conf.h"
#include "list.h"
#include "macro.h"
#include "netutil-proto.h"

typedef struct Manager Manager;
typedef struct Policy Policy;
typedef struct WorkerPool WorkerPool;
typedef struct CaresResolver CaresResolver;
typedef struct Held Held;
typedef struct Group Group;
typedef struct OverrideTable OverrideTable;
typedef struct Conn Conn;
typedef struct Request Request;
typedef struct UserLoad UserLoad;
typedef struct OutMsg OutMsg;
typedef struct Closer Closer;

/* A long reply built in parts as the client reads (request_reply_stream()): adds the next
 * items, in order, to reply until request_stream_full(reply, budget) or until no item is
 * left. Returns 1 when the last item is in, 0 when more remain, or -errno (the request then
 * ends with that error, after any parts already sent, which the client drops: PROTOCOL.md
 * §5.4). Runs on the loop whenever the connection has room for more; whatever it lists may
 * have changed since its last call, so state must hold no pointer it cannot check. */
typedef int (*RequestFillFunc)(Request *req, void *state, ProtoReply *reply, size_t budget);

/* Peer credentials are the only thing about a client we trust (SO_PEERCRED, SO_PEERGROUPS). */
typedef struct Creds {
        pid_t pid;
        uid_t uid;
        gid_t gid;
        gid_t *groups; /* supplementary groups */
        size_t n_groups;
} Creds;

/* Copies src's groups too. Returns 0 or -ENOMEM. */
int creds_copy(const Creds *src, Creds *dst);

struct Request {
        Manager *manager;
        Conn *conn; /* NULL once the client is gone: the reply is then dropped */
        uint16_t type;
        uint32_t serial;
        unsigned parts_queued; /* reply datagrams not yet written */
        bool replied;
        /* Set by an asynchronous handler: called if the client goes away first; the
         * handler must still end the request with request_reply*() or request_error(). */
        void (*cancel)(Request *req);
        /* Set by a backend that may outlive its deadline (ResolveTimeoutSec=): lets go of
         * the request, which the caller then answers; the backend never touches it again. */
        void (*detach)(Request *req);
        sd_event_source *deadline; /* freed when the request is answered or freed */
        void *userdata;
        UserLoad *load; /* its uid's count, which it is part of until freed */
        /* A reply built as the client reads (request_reply_stream()): its fill function and
         * state, and the part it fills (the parts before it are queued). */
        RequestFillFunc fill;
        void (*fill_free)(void *state);
        void *fill_state;
        ProtoReply *fill_reply;
        bool streaming;       /* parts remain to be built: not freed when the queue empties */
        Request *stream_next; /* Conn.streams, oldest first */
        LIST_FIELDS(Request, requests);
};

/* What one uid costs the daemon, across its connections, whether their client is still there
 * or not: requests (MaxRequestsPerUser=), queued reply bytes (MaxReplyBytesPerUser=), fds it
 * gave us that the closer still has to close. Made for a uid's first connection, freed with
 * the last connection, request or closer job that points to it. */
struct UserLoad {
        uid_t uid;
        unsigned n_refs;     /* connections, requests and closer jobs that point here */
        unsigned n_requests; /* read and not yet freed */
        uint64_t out_bytes;  /* reply bytes queued on its connections, not yet sent */
        unsigned n_closing;  /* its fds and sockets the closer has not closed yet */
        bool blocked;        /* some connection of this uid stopped reading at a limit */
        LIST_FIELDS(UserLoad, loads);
};

struct Conn {
        Manager *manager;
        int fd;
        Creds creds;
        sd_event_source *io;
        uint32_t io_events; /* what io is armed for */
        Request *requests; /* read and not yet fully answered */
        unsigned n_in_flight;
        UserLoad *load;
        OutMsg *out_head, *out_tail;
        uint64_t out_bytes;                   /* bytes in out_head.. (MaxReplyBytesPerConnection=) */
        Request *streams_head, *streams_tail; /* replies still being built, oldest first */
        bool may_hold_fds; /* SO_PASSRIGHTS was not off since connect(): its queue may hold fds */
        bool dead;
        LIST_FIELDS(Conn, conns);
};

struct Manager {
        sd_event *event;
        Config *config;
        Policy *policy;          /* compiled from config; refcounted: jobs keep theirs */
        unsigned unprivileged_port_start; /* net.ipv4.ip_unprivileged_port_start at (re)load */
        WorkerPool *workers;     /* for work that may block (name lookups) */
        CaresResolver *cares;    /* resolve-cares.c: while Resolver=cares */
        char *config_path;   /* NULL: embedded default */
        bool config_missing_ok;
        bool user_mode;
        char *socket_path;
        char *state_dir;

        int listen_fd;
        bool socket_created; /* we bound it: remove the node on exit */
        dev_t socket_dev;
        ino_t socket_ino;
        sd_event_source *listen_source;
        sd_event_source *accept_retry;
        sd_event_source *status_timer;
        bool notify;         /* $NOTIFY_SOCKET is set */

        /* fdstore.c: held sockets in the service manager's fd store, successor hand-over */
        unsigned fdstore_max;    /* $FDSTORE with $NOTIFY_SOCKET: push held sockets; 0: do not */
        struct FdStoreQueue *fdstore_queue; /* messages the service manager had no room for yet */
        bool takeover;           /* --takeover: take everything over from a running instance */
        bool paused;             /* a hand-over is under way: accept nothing, read only takeover_conn */
        Conn *takeover_conn;     /* the successor's connection while it takes over */
        Request *takeover_req;   /* its TAKEOVER, answered once nothing else is in flight */
        bool takeover_prepared;  /* everything was handed over; a second TAKEOVER commits */
        uint64_t takeover_deadline; /* CLOCK_MONOTONIC µs: give up the hand-over after this */
        sd_event_source *takeover_timer;

        Held *held;              /* held.c */
        Group *groups;           /* group.c */
        OverrideTable *override_tables; /* override.c: every table, the global one included */
        OverrideTable *override_global;
        struct UidCount *override_uids;
        unsigned n_overrides;
        struct NamesIndex *names_index; /* names-index.c: the NSS module's index of host-only rules */
        struct StateWriter *state_writer; /* state.c: writes the state file off the loop */
        unsigned n_held_sockets;

        Conn *conns;
        unsigned n_conns;
        UserLoad *loads;         /* one per uid with a connection or a request */
        Conn *dead_conns;
        sd_event_source *gc_source;

        /* Client fds (issue 13): refused at the socket where the kernel can (SO_PASSRIGHTS);
         * what gets in anyway is closed by the closer's thread, never by the loop. */
        bool refuse_fds; /* SO_PASSRIGHTS is off on the listener, so on every new connection */
        Closer *closer;
        unsigned n_closing;         /* closer jobs not done yet */
        bool accept_paused_closing; /* too many: accepting waits for the closer */
        Conn *reading;              /* the connection conn_io() reads: whom received fds are charged to */

        /* Lists built in parts (override.c, held.c): every rule and held name gets the next
         * number, and every removal counts, so that a listing that resumes knows whether the
         * pointer it kept is still good (no removal since) and where it was (the number). */
        uint64_t override_seq, override_removals;
        uint64_t held_seq, held_removals;

        pid_t pid;               /* ours, cached: getpid() is a system call */
        uint64_t start_usec;
        uint64_t n_requests;
        uint64_t n_replied;
        uint64_t refused_clients;
        uint64_t last_refusal_log_usec;

        ProtoRecv *recv;     /* shared receive buffer: the loop is single-threaded */
};

/* Asynchronous handlers return this after keeping the Request. */
#define REQUEST_PENDING 1

/* A handler answers with request_reply*() or request_error() and returns 0, returns
 * REQUEST_PENDING and answers later, or returns -errno for a plain error reply. fds
 * holds the received fds (at most Handler.max_fds); the handler takes what it keeps. */
typedef int (*HandlerFunc)(Request *req, const ProtoView *v, ProtoRecv *fds);

typedef struct Handler {
        HandlerFunc func;
        unsigned max_fds; /* fds the message type may carry; more is an error */
} Handler;

/* handlers.c: the table of message types. */
const Handler *handler_lookup(uint16_t type);

int manager_new(Manager **ret);
Manager *manager_free(Manager *m);
static inline void manager_freep(Manager **m) {
        if (*m)
                manager_free(*m);
}
int manager_listen(Manager *m);
/* listen() again on an adopted control socket, so that clients see our pid as its peer. */
void manager_restamp_listener(int fd);
/* A successor takes over (fdstore.c): stop accepting and stop reading every connection but
 * keep, or undo that. */
void manager_pause(Manager *m, Conn *keep);
void manager_resume(Manager *m);
/* Closes fd, which a client may have had its hands on (a held socket, whose recipient may
 * have made it a lingering connected socket, or put fds in its unaccepted connections), on
 * a closer thread of uid's lane: the loop never does the last close of a file a client
 * controls, and a close that lingers holds up only that uid's (issue 13). Consumes fd. */
void manager_close_foreign(Manager *m, int fd, uid_t uid);
/* Shuts c down (epoll reports the hang-up and the connection goes in conn_io()). */
void manager_conn_kill(Conn *c);
/* Requests read and not yet answered, their clients gone or not (a worker may still run a
 * BIND whose client left: it will still hold or group its sockets). */
uint64_t manager_unanswered_requests(Manager *m);
/* Creates every missing directory of path's parent, mode 0755 & ~umask. Returns 0 or -errno. */
int mkdir_parents(const char *path);

/* Loads config and policy: at start (fatal on error) and on SIGHUP (the old ones stay). */
int manager_load_config(Manager *m);
int manager_reload(Manager *m);
void manager_status_changed(Manager *m);
int manager_format_status(Manager *m, char *buf, size_t len);
/* The name of the resolver backend that answers. */
const char *manager_resolver_name(Manager *m);

/* Replies end a request. They consume what they are given and return 0 or -errno; a
 * request whose client is gone is just freed. */
int request_reply(Request *req, ProtoReply *reply);
int request_reply_msg(Request *req, ProtoMsg *msg);
int request_error(Request *req, int error, const char *format, ...) _printf_(3, 4);
/* An error reply that also carries a resolver's EAI_* code. */
int request_error_gai(Request *req, int error, int gai, const char *format, ...) _printf_(4, 5);
/* Ends req with a reply that fill builds in parts while the client reads them, so that a
 * client that does not read costs at most MaxReplyBytesPerConnection= (issue 13). Takes
 * state (freed with free_state once the reply is built or the client is gone) in every
 * case. The request counts as answered from now on. Returns REQUEST_PENDING, for the
 * handler to return. */
int request_reply_stream(Request *req, RequestFillFunc fill, void (*free_state)(void *state), void *state);
/* For a fill function: whether reply's complete parts (all but the last) hold budget bytes. */
bool request_stream_full(const ProtoReply *reply, size_t budget);
/* Ends req with a reply that carries nothing but success. */
int request_reply_empty(Request *req);
/* A new empty reply message for req. */
int request_new_reply(Request *req, ProtoMsg **ret);
