/* SPDX-License-Identifier: MIT */
#pragma once

/* Request handlers, one per message type; see HandlerFunc in manager.h. */

#include "manager.h"

int status_handle(Request *req, const ProtoView *v, ProtoRecv *fds);
int bind_handle(Request *req, const ProtoView *v, ProtoRecv *fds);
int bind_unix_handle(Request *req, const ProtoView *v, ProtoRecv *fds);
int resolve_handle(Request *req, const ProtoView *v, ProtoRecv *fds);

/* Adds a socket to a reply as an item (family, socktype, sockaddr) with its fd, which is
 * consumed in every case. For BIND, BIND_UNIX and held sockets. */
int bind_reply_add_socket(ProtoReply *reply, int fd, int family, int socktype, const void *addr, size_t addr_len);
/* The same with the listener's BACKLOG (if >= 0), for a unix listener: libnetutil calls
 * listen() again with it in the receiving process, so that peers see that process's pid
 * and credentials rather than the daemon's. */
int bind_reply_add_listener(ProtoReply *reply, int fd, int family, int socktype, const void *addr, size_t addr_len,
                            int backlog);
