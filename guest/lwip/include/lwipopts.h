/* lwIP's configuration for Pumice. Options not named here keep lwIP's defaults (lwip/opt.h).
 * docs/pumice.md, "Network stack", says why these were chosen. */
#ifndef PUMICE_LWIPOPTS_H
#define PUMICE_LWIPOPTS_H

/* The raw (callback) API, no OS layer: one vCPU's cooperative threads run all of lwIP
 * (pumice::net::Stack), so lwIP needs neither mailboxes, semaphores nor interrupt locks. */
#define NO_SYS 1
#define SYS_LIGHTWEIGHT_PROT 0
#define LWIP_NETCONN 0
#define LWIP_SOCKET 0
#define LWIP_TIMERS 1
/* lwIP's API functions check that they run on the stack's vCPU (port/sys_arch.cpp). */
#define LWIP_ASSERT_CORE_LOCKED() pumice_lwip_assert_core_locked()

/* Memory: the heap is Pumice's malloc; the pools (PCBs, segments, timeouts) are lwIP's
 * static, bounded ones, so a hostile peer cannot grow them past these counts. */
#define MEM_LIBC_MALLOC 1
#define MEMP_MEM_MALLOC 0
#define MEM_ALIGNMENT 8
#define MEMP_NUM_TCP_PCB 64
#define MEMP_NUM_TCP_PCB_LISTEN 16
#define MEMP_NUM_UDP_PCB 16
#define MEMP_NUM_PBUF 128
#define PBUF_POOL_SIZE 128
/* Received frames arrive as custom pbufs around the buffer they were copied into. */
#define LWIP_SUPPORT_CUSTOM_PBUF 1

/* IPv4 with ARP, ICMP, UDP, TCP and the DHCP client; no IPv6, IGMP, AutoIP or DNS yet. */
#define LWIP_IPV4 1
#define LWIP_IPV6 0
#define LWIP_ARP 1
#define LWIP_ETHERNET 1
#define LWIP_ICMP 1
#define LWIP_RAW 0
#define LWIP_UDP 1
#define LWIP_TCP 1
#define LWIP_DHCP 1
#define LWIP_AUTOIP 0
#define LWIP_IGMP 0
#define LWIP_DNS 0
#define IP_REASSEMBLY 1
#define IP_FRAG 1
#define ETH_PAD_SIZE 0

/* TCP sized for a fast local link: a window of 44 full segments (64240 bytes, the most
 * without window scaling) each way. */
#define TCP_MSS 1460
#define TCP_WND (44 * TCP_MSS)
#define TCP_SND_BUF (44 * TCP_MSS)
#define TCP_SND_QUEUELEN (4 * TCP_SND_BUF / TCP_MSS)
#define MEMP_NUM_TCP_SEG 512
#define TCP_QUEUE_OOSEQ 1
#define LWIP_TCP_KEEPALIVE 1

/* Sending to one's own address, and 127.0.0.1 on a loopback interface, go through lwIP's
 * loopback queues, which the stack's threads drain (netif_poll_all). */
#define LWIP_NETIF_LOOPBACK 1
#define LWIP_HAVE_LOOPIF 1
#define LWIP_LOOPBACK_MAX_PBUFS 256

#define LWIP_NETIF_STATUS_CALLBACK 0
#define LWIP_NETIF_LINK_CALLBACK 0
#define LWIP_NETIF_HOSTNAME 0
#define LWIP_STATS 0

#endif /* PUMICE_LWIPOPTS_H */
