/* The internal global names of libmempool, prefixed with mempool__.
 *
 * libmempool is linked into programs that have their own functions, and C
 * has one namespace for them: a program that defines session_open or
 * proto_encode_request would not link against libmempool.a if the library
 * defined those names too. So every global symbol the library's objects
 * define outside the API of mempool.h is renamed here, at compile time:
 * this header is force-included (-include, CMakeLists.txt) when compiling
 * libmempool's own objects only; the daemon compiles the same common/
 * sources under their plain names. The same on Linux and macOS, where the
 * cross-build's tools cannot localize symbols after the fact (docs/service.md).
 *
 * A new internal global must get its line here: tests/install/check_exports.sh
 * (Linux) and tests/darwin/cross-build.sh (macOS) fail on any global of the
 * libraries that does not start with mempool_, naming it and this file.
 * Keep the list sorted; a name that only one OS defines may be listed. */
#ifndef MEMPOOL_LIBMEMPOOL_NAMES_H
#define MEMPOOL_LIBMEMPOOL_NAMES_H

#define backing_table_clear mempool__backing_table_clear
#define backing_table_free mempool__backing_table_free
#define backing_table_get mempool__backing_table_get
#define backing_table_put mempool__backing_table_put
#define block_table_add mempool__block_table_add
#define block_table_find mempool__block_table_find
#define block_table_forget mempool__block_table_forget
#define block_table_remove mempool__block_table_remove
#define block_table_unmap_all mempool__block_table_unmap_all
#define cache_flush mempool__cache_flush
#define cache_give_back mempool__cache_give_back
#define cache_housekeep mempool__cache_housekeep
#define cache_now mempool__cache_now
#define cache_put mempool__cache_put
#define cache_take mempool__cache_take
#define client_pool_cache_oldest mempool__client_pool_cache_oldest
#define client_pool_cache_pop_oldest mempool__client_pool_cache_pop_oldest
#define client_pool_cache_put mempool__client_pool_cache_put
#define client_pool_cache_take mempool__client_pool_cache_take
#define client_pool_keep mempool__client_pool_keep
#define client_pool_take_kept mempool__client_pool_take_kept
#define client_pool_trim_kept mempool__client_pool_trim_kept
#define client_pools_drop_kept mempool__client_pools_drop_kept
#define client_pools_free mempool__client_pools_free
#define client_pools_get mempool__client_pools_get
#define frame_stream_read mempool__frame_stream_read
#define handoff_collect mempool__handoff_collect
#define handoff_export mempool__handoff_export
#define handoff_map mempool__handoff_map
#define handoff_object_close mempool__handoff_object_close
#define handoff_object_empty mempool__handoff_object_empty
#define handoff_object_size mempool__handoff_object_size
#define handoff_recv mempool__handoff_recv
#define handoff_send mempool__handoff_send
#define handoff_service_name mempool__handoff_service_name
#define handoff_socket_type mempool__handoff_socket_type
#define handoff_unmap mempool__handoff_unmap
#define held_block_unmap mempool__held_block_unmap
#define peer_add_named_groups mempool__peer_add_named_groups
#define peer_credentials mempool__peer_credentials
#define proto_block_name_ok mempool__proto_block_name_ok
#define proto_decode_header mempool__proto_decode_header
#define proto_encode_header mempool__proto_encode_header
#define proto_encode_reply mempool__proto_encode_reply
#define proto_encode_request mempool__proto_encode_request
#define proto_error_reply mempool__proto_error_reply
#define proto_frame_size mempool__proto_frame_size
#define proto_get_alloc mempool__proto_get_alloc
#define proto_get_block_reply mempool__proto_get_block_reply
#define proto_get_cache mempool__proto_get_cache
#define proto_get_handle mempool__proto_get_handle
#define proto_get_hello mempool__proto_get_hello
#define proto_get_hello_reply mempool__proto_get_hello_reply
#define proto_get_info mempool__proto_get_info
#define proto_get_lookup mempool__proto_get_lookup
#define proto_get_pool_name mempool__proto_get_pool_name
#define proto_get_publish mempool__proto_get_publish
#define proto_get_release mempool__proto_get_release
#define proto_get_share mempool__proto_get_share
#define proto_get_u64 mempool__proto_get_u64
#define proto_get_unpublish mempool__proto_get_unpublish
#define proto_put_alloc mempool__proto_put_alloc
#define proto_put_block_reply mempool__proto_put_block_reply
#define proto_put_cache mempool__proto_put_cache
#define proto_put_handle mempool__proto_put_handle
#define proto_put_hello mempool__proto_put_hello
#define proto_put_hello_reply mempool__proto_put_hello_reply
#define proto_put_info mempool__proto_put_info
#define proto_put_lookup mempool__proto_put_lookup
#define proto_put_pool_name mempool__proto_put_pool_name
#define proto_put_publish mempool__proto_put_publish
#define proto_put_release mempool__proto_put_release
#define proto_put_share mempool__proto_put_share
#define proto_put_u64 mempool__proto_put_u64
#define proto_put_unpublish mempool__proto_put_unpublish
#define proto_reply_size mempool__proto_reply_size
#define proto_request_size mempool__proto_request_size
#define proto_set_flags mempool__proto_set_flags
#define proto_type_name mempool__proto_type_name
#define scm_rights_close mempool__scm_rights_close
#define scm_rights_take mempool__scm_rights_take
#define session_call mempool__session_call
#define session_destroy mempool__session_destroy
#define session_drop mempool__session_drop
#define session_forget_parent mempool__session_forget_parent
#define session_fork_generation mempool__session_fork_generation
#define session_init mempool__session_init
#define session_open mempool__session_open
#define session_resolve_path mempool__session_resolve_path
#define session_send_oneway mempool__session_send_oneway

#endif
