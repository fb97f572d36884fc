/* SPDX-License-Identifier: MIT */
#pragma once

/* Request handlers, one per message type; see HandlerFunc in manager.h. */

#include "manager.h"

int status_handle(Request *req, const ProtoView *v, ProtoRecv *fds);
