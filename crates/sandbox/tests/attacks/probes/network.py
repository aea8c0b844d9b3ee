# Family: network egress. The test runs listeners on the host and checks
# afterwards that none of them saw a connection or a datagram.


def _tcp(host, port):
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.settimeout(2.0)
    try:
        s.connect((host, int(port)))
    except OSError as e:
        return "tcp %s:%s %s" % (host, port, ename(e.errno) if e.errno else type(e).__name__)
    finally:
        s.close()
    exposed("connected to the host listener at %s:%s" % (host, port))


def p_net_tcp_loopback():
    blocked(_tcp("127.0.0.1", E("PROBE_TCP_PORT")))


def p_net_tcp_host_ip():
    ip = E("PROBE_HOST_IP")
    if not ip:
        blocked("host has no non-loopback address; nothing to try")
    blocked(_tcp(ip, E("PROBE_TCP_PORT_IP")))


def _udp(host, port):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        s.sendto(MARK.encode(), (host, int(port)))
    except OSError as e:
        return "udp %s:%s %s" % (host, port, ename(e.errno))
    finally:
        s.close()
    return "udp %s:%s sent; host checks it did not arrive" % (host, port)


def p_net_udp_loopback():
    blocked(_udp("127.0.0.1", E("PROBE_UDP_PORT")))


def p_net_udp_host_ip():
    ip = E("PROBE_HOST_IP")
    if not ip:
        blocked("host has no non-loopback address; nothing to try")
    blocked(_udp(ip, E("PROBE_UDP_PORT_IP")))


def p_net_unix_abstract():
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        s.connect("\0" + E("PROBE_ABSTRACT"))
    except OSError as e:
        blocked("abstract socket: %s" % ename(e.errno))
    exposed("connected to the host's abstract unix socket")


def p_net_unix_path():
    path = E("PROBE_UNIX_PATH")
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        s.connect(path)
    except OSError as e:
        blocked("unix socket %s: %s" % (path, ename(e.errno)))
    exposed("connected to the host's unix socket %s" % path)


def _sock(fam, typ, proto=0):
    try:
        s = socket.socket(fam, typ, proto)
    except OSError as e:
        return ename(e.errno)
    s.close()
    return None


def p_net_af_packet():
    err = _sock(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(0x0003))
    err2 = _sock(socket.AF_PACKET, socket.SOCK_DGRAM, socket.htons(0x0003))
    if err is None or err2 is None:
        exposed("created an AF_PACKET socket (raw link-layer access)")
    blocked("AF_PACKET raw: %s, dgram: %s" % (err, err2))


def p_net_raw_inet():
    notes = []
    for name, fam, proto in (("AF_INET/IPPROTO_RAW", socket.AF_INET, socket.IPPROTO_RAW),
                             ("AF_INET/ICMP", socket.AF_INET, socket.IPPROTO_ICMP),
                             ("AF_INET6/ICMPV6", socket.AF_INET6, socket.IPPROTO_ICMPV6)):
        err = _sock(fam, socket.SOCK_RAW, proto)
        if err is None:
            exposed("created a SOCK_RAW socket %s" % name)
        notes.append("%s: %s" % (name, err))
    blocked("; ".join(notes))


def p_net_icmp_dgram():
    err = _sock(socket.AF_INET, socket.SOCK_DGRAM, socket.IPPROTO_ICMP)
    if err is None:
        exposed("created an ICMP ping socket")
    blocked("ICMP ping socket: %s" % err)


def p_net_vsock():
    # Only creation is tried: connecting could reach the hypervisor.
    notes = []
    for typ in (socket.SOCK_STREAM, socket.SOCK_DGRAM, socket.SOCK_SEQPACKET):
        err = _sock(40, typ)
        if err is None:
            exposed("created an AF_VSOCK socket (type %d)" % typ)
        notes.append(err)
    blocked("AF_VSOCK: %s" % ",".join(sorted(set(notes))))


def p_net_netlink_route():
    try:
        s = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, 0)
    except OSError as e:
        blocked("AF_NETLINK/NETLINK_ROUTE: %s" % ename(e.errno))
    s.settimeout(2.0)
    # RTM_GETLINK dump: nlmsghdr + ifinfomsg
    req = struct.pack("=IHHII", 32, 18, 0x301, 1, 0) + struct.pack("=BxHiII", 0, 0, 0, 0, 0)
    names = []
    try:
        s.bind((0, 0))
        s.send(req)
        done = False
        while not done:
            data = s.recv(65536)
            off = 0
            while off + 16 <= len(data):
                ln, typ, _, _, _ = struct.unpack_from("=IHHII", data, off)
                if ln < 16:
                    done = True
                    break
                if typ == 3 or typ == 2:  # NLMSG_DONE / NLMSG_ERROR
                    done = True
                    break
                a = off + 16 + 16
                while a + 4 <= off + ln:
                    alen, atyp = struct.unpack_from("=HH", data, a)
                    if alen < 4:
                        break
                    if atyp == 3:  # IFLA_IFNAME
                        names.append(data[a + 4:a + alen].split(b"\0")[0].decode())
                    a += (alen + 3) & ~3
                off += (ln + 3) & ~3
    except OSError as e:
        blocked("netlink dump failed: %s" % (ename(e.errno) if e.errno else e))
    finally:
        s.close()
    others = [n for n in names if n != "lo"]
    if others:
        exposed("netlink shows host interfaces: %s" % ",".join(others))
    if not names:
        result("UNDETERMINED", "netlink dump returned no interface at all")
    blocked("netlink route dump shows only %s" % ",".join(names))


def p_net_interfaces_routes():
    notes = []
    try:
        names = [n for _, n in socket.if_nameindex()]
    except OSError as e:
        names = []
        notes.append("if_nameindex: %s" % ename(e.errno))
    others = [n for n in names if n != "lo"]
    if others:
        exposed("interfaces visible: %s" % ",".join(others))
    data, err = try_read("/proc/net/route")
    if data is not None:
        routes = data.decode().splitlines()[1:]
        if routes:
            exposed("routes present: %s" % routes[0][:60])
    notes.append("interfaces: %s" % (",".join(names) or "none"))
    notes.append("routes: %s" % ("none" if data is not None else err))
    blocked("; ".join(notes))


def p_net_dns():
    notes = []
    try:
        socket.setdefaulttimeout(2.0)
        socket.getaddrinfo("example.com", 80)
        exposed("resolved example.com")
    except OSError as e:
        notes.append("getaddrinfo: %s" % type(e).__name__)
    servers = []
    data, _ = try_read("/etc/resolv.conf")
    for line in (data or b"").decode(errors="replace").splitlines():
        parts = line.split()
        if len(parts) >= 2 and parts[0] == "nameserver":
            servers.append(parts[1])
    query = struct.pack(">HHHHHH", 0x4242, 0x0100, 1, 0, 0, 0) + \
        b"\x07example\x03com\x00" + struct.pack(">HH", 1, 1)
    for srv in servers[:3]:
        s = socket.socket(socket.AF_INET6 if ":" in srv else socket.AF_INET, socket.SOCK_DGRAM)
        s.settimeout(2.0)
        try:
            s.sendto(query, (srv, 53))
            s.recvfrom(512)
            exposed("DNS server %s answered" % srv)
        except OSError as e:
            notes.append("%s: %s" % (srv, ename(e.errno) if e.errno else type(e).__name__))
        finally:
            s.close()
    blocked("; ".join(notes) or "no resolver")


def p_net_exotic_families():
    fams = {"AF_ALG": 38, "AF_KEY": 15, "AF_TIPC": 30, "AF_RDS": 21, "AF_BLUETOOTH": 31,
            "AF_CAN": 29, "AF_XDP": 44, "AF_SMC": 43, "AF_NFC": 39, "AF_LLC": 26,
            "AF_X25": 9, "AF_AX25": 3, "AF_APPLETALK": 5, "AF_ATMPVC": 8, "AF_IEEE802154": 36,
            "AF_PPPOX": 24, "AF_RXRPC": 33, "AF_KCM": 41, "AF_QIPCRTR": 42, "AF_MCTP": 45}
    created, notes = [], {}
    for name, fam in fams.items():
        for typ in (socket.SOCK_SEQPACKET, socket.SOCK_DGRAM, socket.SOCK_RAW, socket.SOCK_STREAM):
            err = _sock(fam, typ)
            if err is None:
                created.append("%s/%d" % (name, typ))
                break
            notes[err] = notes.get(err, 0) + 1
    if created:
        exposed("created sockets of rarely used families (kernel attack surface): %s" %
                ",".join(created))
    blocked("no exotic family: %s" % ", ".join("%s x%d" % kv for kv in sorted(notes.items())))


def p_net_tcp6_loopback():
    port = E("PROBE_TCP6_PORT")
    if not port:
        blocked("the host has no IPv6 loopback; nothing to try")
    s = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
    s.settimeout(2.0)
    try:
        s.connect(("::1", int(port)))
    except OSError as e:
        blocked("tcp [::1]:%s %s" % (port, ename(e.errno) if e.errno else type(e).__name__))
    finally:
        s.close()
    exposed("connected to the host listener at [::1]:%s" % port)
